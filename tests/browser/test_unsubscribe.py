"""The unsubscribe page in a real browser: only pressing its button unsubscribes, the
batcher turns that into a suppression, and the page works without JavaScript, by
keyboard, and with readable colours for every example brand.

(The RFC 8058 one-click POST that mail providers send is a plain HTTP client's job:
tests/edge/test_routes.py::test_rfc8058_one_click_post_unsubscribes_from_the_links_scope.)
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.browser.helpers import Stack, browser_suite
from tracer.settings import load_settings
from tracer.store import open_store

pytestmark = browser_suite

RECIPIENT = "jamie.rivera@example.com"
MASKED = "j•••@example.com"


# --- WCAG 2.x contrast (written here, not imported from the page it checks) -----------------
def _channel(value: float) -> float:
    value /= 255
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[int, int, int]) -> float:
    red, green, blue = (_channel(c) for c in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def css_rgb(value: str) -> tuple[int, int, int]:
    """An opaque computed CSS colour, `rgb(r, g, b)`."""
    match = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, 1)?\)", value)
    assert match, f"not an opaque colour: {value}"
    return int(match[1]), int(match[2]), int(match[3])


STYLES = """() => {
  const css = (selector) => getComputedStyle(document.querySelector(selector));
  const button = css('button'), main = css('main'), heading = css('h1');
  const small = css('.small');
  return {button: [button.color, button.backgroundColor], card: main.backgroundColor,
          heading: heading.color, small: small.color};
}"""
FOCUS = """() => {
  const element = document.activeElement, style = getComputedStyle(element);
  return {tag: element.tagName, visible: element.matches(':focus-visible'),
          outline: [style.outlineStyle, style.outlineWidth, style.outlineColor]};
}"""


async def tab_to(page, tag: str, most: int = 6) -> dict:
    """Press Tab until an element `tag` has the focus; returns its focus style."""
    for _ in range(most):
        await page.keyboard.press("Tab")
        focus = await page.evaluate(FOCUS)
        if focus["tag"] == tag:
            return focus
    raise AssertionError(f"Tab never reached a {tag}")


def assert_focus_is_visible(focus: dict, card: tuple[int, int, int]) -> None:
    style, width, colour = focus["outline"]
    assert focus["visible"], focus
    assert style != "none" and float(width.removesuffix("px")) >= 2, focus
    assert contrast(css_rgb(colour), card) >= 3, focus  # WCAG 1.4.11, non-text contrast


# --- the tests ---------------------------------------------------------------------------
async def test_only_the_button_unsubscribes_and_the_batcher_records_a_suppression(
    stack: Stack, context
) -> None:
    """1. The reader opens the unsubscribe link of a newsletter email.
    Result: the page names the masked address and has a button; the visit alone records
    only an `unsubscribe_view`.
    2. The reader picks "all marketing email" and presses the button.
    Result: the confirmation page, and one `unsubscribe` (POST, human, scope all).
    3. `tracer batcher --burst` drains the queue into SQLite.
    Result: the store has a suppression of the whole brand for the recipient's hash."""
    url = stack.builder.unsubscribe(
        "northjobs", "wk-unsub-1", recipient=RECIPIENT, list_id="newsletter"
    )
    page = await context.new_page()

    reply = await page.goto(url)

    assert reply is not None and reply.status == 200
    heading = await page.get_by_role("heading", level=1).inner_text()
    assert MASKED in heading
    assert RECIPIENT not in await page.content()
    button = page.get_by_role("button", name="Unsubscribe")
    assert await button.is_visible()
    await asyncio.sleep(0.3)  # time for anything else the visit would have recorded
    (view,) = await stack.events(1)
    assert (view.type, view.agent, view.method) == ("unsubscribe_view", "human", "GET")

    await page.get_by_label("All marketing email from North Jobs").check()
    async with page.expect_navigation():
        await button.click()

    assert await page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"
    assert MASKED in await page.get_by_role("status").inner_text()
    back = page.get_by_role("link", name="Go to North Jobs")
    assert await back.get_attribute("href") == stack.brands.get("northjobs").landing_url
    found = await stack.events(2)
    assert [event.type for event in found] == ["unsubscribe_view", "unsubscribe"]
    unsubscribe = found[1]
    assert (unsubscribe.agent, unsubscribe.method, unsubscribe.list_id) == ("human", "POST", "")
    recipient = stack.builder.hasher.hash("northjobs", RECIPIENT)
    assert unsubscribe.recipient == recipient

    await stack.run_batcher()

    store = await open_store(load_settings(stack.env))
    try:
        suppressions = await store.suppressions("northjobs")
        assert await store.is_suppressed("northjobs", recipient)
        assert await store.is_suppressed("northjobs", recipient, "partner-offers")
    finally:
        await store.close()
    mine = [(s.scope, s.event_id) for s in suppressions if s.recipient == recipient]
    assert mine == [("", unsubscribe.id)]


async def test_without_javascript_the_page_is_accessible_and_works_by_keyboard(
    stack: Stack, browser, tmp_path: Path
) -> None:
    """1. A browser with JavaScript off opens the unsubscribe link of a partner-offers
    email. Result: a page with a language, a title, one h1, a main landmark, a labelled
    radio group whose list choice is preselected, and a labelled button.
    2. The reader tabs to the choice, then to the button (each focus visibly outlined),
    and presses Enter. Result: unsubscribed from that list only."""
    stack.clear()
    context = await browser.new_context(ignore_https_errors=True, java_script_enabled=False)
    page = await context.new_page()
    url = stack.builder.unsubscribe(
        "northjobs", "wk-unsub-2", recipient=RECIPIENT, list_id="partner-offers"
    )
    try:
        await page.goto(url)
        await page.screenshot(path=tmp_path / "confirm.png", full_page=True)

        assert await page.locator("html").get_attribute("lang") == "en"
        assert await page.title() == "Unsubscribe | North Jobs"
        assert await page.locator("h1").count() == 1
        assert await page.get_by_role("main").count() == 1
        assert await page.locator("script").count() == 0
        group = page.get_by_role("group", name="What would you like to stop receiving?")
        only = group.get_by_role("radio", name="Only “Offers from partners”")
        every = group.get_by_role("radio", name="All marketing email from North Jobs")
        assert await only.is_checked() and not await every.is_checked()
        assert await page.get_by_role("button", name="Unsubscribe").count() == 1
        styles = await page.evaluate(STYLES)
        card = css_rgb(styles["card"])

        assert_focus_is_visible(await tab_to(page, "INPUT"), card)
        assert await only.evaluate("element => element === document.activeElement")
        assert_focus_is_visible(await tab_to(page, "BUTTON"), card)
        await page.screenshot(path=tmp_path / "button-focused.png", full_page=True)
        async with page.expect_navigation():
            await page.keyboard.press("Enter")

        assert await page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"
        assert "Offers from partners" in await page.get_by_role("status").inner_text()
        await page.screenshot(path=tmp_path / "done.png", full_page=True)
    finally:
        await context.close()
    found = await stack.events(2)
    assert [(e.type, e.list_id) for e in found] == [
        ("unsubscribe_view", "partner-offers"),
        ("unsubscribe", "partner-offers"),
    ]


# Screenshots with the button focused: the default colours, a label turned black (yellow),
# the darkest brand colour.
SHOWN_FOCUSED = {"northjobs", "buildright-jobs", "remote-atlas"}


async def test_every_example_brand_page_has_readable_colours_and_visible_focus(
    stack: Stack, context, tmp_path: Path
) -> None:
    """For each of the example brands' pages, as Chromium renders them: the button's
    label on its brand colour, the heading and the small print on the card, at least
    4.5:1 (WCAG AA for text); the keyboard focus on the button outlined at 3:1 (checked,
    with a screenshot, for SHOWN_FOCUSED)."""
    page = await context.new_page()
    problems = []
    for brand in stack.brands:
        lists = list(brand.unsubscribe.lists)
        url = stack.builder.unsubscribe(
            brand.id, "wk-colours", recipient=RECIPIENT, list_id=lists[0] if lists else ""
        )
        await page.goto(url)
        styles = await page.evaluate(STYLES)
        card = css_rgb(styles["card"])
        ratios = {
            "button": contrast(*(css_rgb(c) for c in styles["button"])),
            "heading": contrast(css_rgb(styles["heading"]), card),
            "small print": contrast(css_rgb(styles["small"]), card),
        }
        problems += [
            f"{brand.id} ({brand.unsubscribe.primary_color}): {what} {ratio:.2f}:1"
            for what, ratio in ratios.items()
            if ratio < 4.5
        ]
        if brand.id in SHOWN_FOCUSED:
            assert_focus_is_visible(await tab_to(page, "BUTTON"), card)
            await page.screenshot(path=tmp_path / f"{brand.id}.png")

    assert len(stack.brands) == 22
    assert problems == []
