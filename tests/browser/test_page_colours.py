"""The unsubscribe page's colour choices, without a browser (the browser tests measure what
Chromium renders for the example brands; these cover colours no example brand has)."""

from __future__ import annotations

import logging

import msgspec
import pytest

from edge.pages import UnsubscribePages, contrast_ratio, text_color_on
from tracer.brands import Brands


@pytest.mark.parametrize(
    ("background", "label"),
    [("#ffffff", "#000000"), ("#000000", "#ffffff"), ("#ffb703", "#000000"),
     ("#0b5fff", "#ffffff"), ("#767676", "#000000"), ("#757575", "#ffffff")],
)  # fmt: skip
def test_the_button_label_is_white_or_black_whichever_reads_better(
    background: str, label: str
) -> None:
    assert text_color_on(background) == label
    assert contrast_ratio(label, background) >= 4.5


def test_every_grey_gets_a_label_of_at_least_4_5_to_1() -> None:
    for level in range(256):
        grey = f"#{level:02x}{level:02x}{level:02x}"
        assert contrast_ratio(text_color_on(grey), grey) >= 4.58


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#0b5fff", "#0b5fff") == 1


def test_an_unreadable_text_colour_is_replaced_and_logged(
    example_brands: Brands, caplog: pytest.LogCaptureFixture
) -> None:
    """A brand whose text_color is meant for a dark background would be unreadable on the
    white card: the page uses the default text colour, and the edge says so at start-up."""
    brand = example_brands.get("northjobs")
    pale = msgspec.structs.replace(
        brand, unsubscribe=msgspec.structs.replace(brand.unsubscribe, text_color="#eeeeee")
    )

    with caplog.at_level(logging.WARNING, logger="edge.pages"):
        html = UnsubscribePages(pale).confirm("j•••@example.com", "").decode()

    assert "#eeeeee" not in html and "color:#1f2328" in html
    (record,) = caplog.records
    assert "northjobs" in record.getMessage() and "#eeeeee" in record.getMessage()
