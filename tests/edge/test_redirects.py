"""Destination URLs with the brand's UTM parameters and the click id."""

from __future__ import annotations

import urllib.parse

import pytest

from edge.redirects import RedirectBuilder
from tracer.brands import parse_brands


def brand(extra: str = ""):
    text = (
        '[[brands]]\nid = "b"\nname = "B"\nhosts = ["t.b.example"]\n'
        f'landing_url = "https://b.example/"\n{extra}'
    )
    return parse_brands(text).all[0]


def location(builder: RedirectBuilder, url: str, campaign: str = "spring") -> str:
    return builder.location(url, "email", campaign, "indeed", "m-1", 2, "CLICK").decode()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://b.example/jobs",
            "https://b.example/jobs?utm_source=b&utm_medium=email&utm_campaign=spring&tclid=CLICK",
        ),
        (
            "https://b.example/jobs?x=1",
            "https://b.example/jobs?x=1&utm_source=b&utm_medium=email&utm_campaign=spring"
            "&tclid=CLICK",
        ),
        (
            "https://b.example/jobs?#top",
            "https://b.example/jobs?utm_source=b&utm_medium=email&utm_campaign=spring"
            "&tclid=CLICK#top",
        ),
        (
            "https://b.example/jobs#top",
            "https://b.example/jobs?utm_source=b&utm_medium=email&utm_campaign=spring"
            "&tclid=CLICK#top",
        ),
    ],
)
def test_parameters_are_appended_before_the_fragment(url: str, expected: str) -> None:
    assert location(RedirectBuilder(brand()), url) == expected


def test_existing_utm_parameters_are_kept_unless_the_brand_overrides() -> None:
    url = "https://b.example/jobs?utm_source=partner&tclid=old&q=nurse"

    kept = urllib.parse.parse_qs(
        urllib.parse.urlsplit(location(RedirectBuilder(brand()), url)).query
    )
    replaced = urllib.parse.parse_qs(
        urllib.parse.urlsplit(location(RedirectBuilder(brand("utm_override = true")), url)).query
    )

    assert kept["utm_source"] == ["partner"]
    assert kept["tclid"] == ["CLICK"]  # our click id always wins: it is what converts
    assert kept["q"] == ["nurse"]
    assert replaced["utm_source"] == ["b"]
    assert replaced["tclid"] == ["CLICK"]


def test_values_are_url_encoded_and_empty_ones_left_out() -> None:
    builder = RedirectBuilder(
        brand(
            '[brands.utm]\nutm_campaign = "{campaign}"\nutm_content = "{job_source}-{link}"\n'
            'utm_term = "{message_id}"\n'
        )
    )

    assert location(builder, "https://b.example/", campaign="") == (
        "https://b.example/?utm_content=indeed-2&utm_term=m-1&tclid=CLICK"
    )
    assert "utm_campaign=caf%C3%A9%20%26%20co" in location(
        builder, "https://b.example/", campaign="café & co"
    )
