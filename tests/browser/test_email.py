"""A reader's browser and a tracked email: Chromium shows the rewritten job alert on a
webmail page, fetches both open pixels, and follows a tracked link to the job board.

Everything goes through nginx with TLS, as deployed; the events are read back from the
queue the edge writes to."""

from __future__ import annotations

import urllib.parse

from tests.browser.helpers import LANDING_HOST, Stack, browser_suite
from tests.support import ROOT
from tracer.rewrite import RewrittenEmail, rewrite_email

pytestmark = browser_suite

JOB_ALERT = (ROOT / "tests" / "data" / "job_alert.html").read_text()
RECIPIENT = "jamie.rivera@example.com"


def job_alert(stack: Stack, message_id: str) -> RewrittenEmail:
    return rewrite_email(
        stack.builder,
        "northjobs",
        message_id,
        RECIPIENT,
        JOB_ALERT,
        campaign="weekly-matches",
        job_source="indeed",
    )


def recipient_hash(stack: Stack) -> str:
    return stack.builder.hasher.hash("northjobs", RECIPIENT)


async def test_showing_the_email_fetches_both_pixels_and_records_two_human_opens(
    stack: Stack, context
) -> None:
    """1. The rewritten job alert is shown on a webmail page, as a reader opens it.
    Result: both pixels are fetched over TLS and answered with the GIF; two `open` events,
    header and footer, human, with the message's ids and the recipient's hash; the
    hidden canary link is not followed (no click)."""
    email = job_alert(stack, "wk-open-1")
    page = await context.new_page()
    pixels = []
    page.on("response", lambda reply: pixels.append(reply) if "/o/" in reply.url else None)

    await page.goto(stack.web.show("wk-open-1", email.html), wait_until="load")

    found = await stack.events(2)
    assert sorted(event.position for event in found) == ["footer", "header"]
    for event in found:
        assert (event.type, event.agent, event.bot) == ("open", "human", False), event
        assert (event.brand, event.message_id) == ("northjobs", "wk-open-1")
        assert (event.campaign, event.job_source) == ("weekly-matches", "indeed")
        assert event.recipient == recipient_hash(stack)
        assert "Chrome/" in event.ua and "Headless" not in event.ua
    assert sorted(reply.url for reply in pixels) == sorted(email.open_urls.values())
    for reply in pixels:  # through nginx, over TLS, as a mail client fetches them
        assert (await reply.server_addr())["port"] == stack.tls_port
        assert (await reply.security_details())["protocol"].startswith("TLS")
        assert reply.status == 200
        assert reply.headers["content-type"] == "image/gif"
        assert reply.headers["cache-control"] == "no-store"
        assert len(await reply.body()) == 43
    assert all(event.type == "open" for event in await stack.events(3, timeout_s=0.3))


async def test_clicking_a_job_lands_on_the_job_board_with_utm_and_the_click_id(
    stack: Stack, context
) -> None:
    """1. The job alert is shown. 2. The reader clicks a job's title (it opens in a new
    tab, as the email says: target=_blank).
    Result: the new tab is on the job board's page for that job, whose request carries the
    destination's own parameters, the brand's missing UTM parameters and `tclid`; one
    `click` event, human, for that link, whose click id is the `tclid` the board got."""
    email = job_alert(stack, "wk-click-1")
    link = next(link for link in email.links if "/jobs/1037-python-backend" in link.url)
    page = await context.new_page()
    await page.goto(stack.web.show("wk-click-1", email.html), wait_until="load")
    await stack.events(2)  # the opens

    async with context.expect_page() as opened:
        await page.locator(f'a[href="{link.tracked}"]').click()
    tab = await opened.value
    await tab.wait_for_load_state()

    landed = urllib.parse.urlsplit(tab.url)
    assert (landed.scheme, landed.hostname, landed.path) == (
        "https",
        LANDING_HOST,
        "/jobs/1037-python-backend",
    )
    (visit,) = [v for v in stack.web.visits if v.path == "/jobs/1037-python-backend"]
    assert visit.query == urllib.parse.parse_qs(landed.query)
    # The destination's own parameters stay (North Jobs does not override UTM values);
    # the brand adds what is missing: utm_content from the job source, and the click id.
    assert visit.query["src"] == ["alert"] and visit.query["pos"] == ["1"]
    assert visit.query["utm_source"] == ["newsletter"]
    assert visit.query["utm_campaign"] == ["weekly-matches"]
    assert visit.query["utm_content"] == ["indeed"]
    (click_id,) = visit.query["tclid"]
    clicks = [event for event in await stack.events(3) if event.type == "click"]
    assert len(clicks) == 1, clicks
    (click,) = clicks
    assert (click.agent, click.bot, click.reasons) == ("human", False, ["no_signal"])
    assert click.click_id == click_id
    assert (click.link, click.message_id, click.url) == (link.index, "wk-click-1", link.url)
    assert click.recipient == recipient_hash(stack)
    assert click.ua == visit.user_agent


async def test_an_unmodified_headless_chromium_is_recorded_as_a_bot(stack: Stack, browser) -> None:
    """1. A headless Chromium with its own user agent (`HeadlessChrome/…`) shows the email.
    Result: both opens are recorded (classified, never dropped) as `bot`, which is why
    the other tests give the browser the user agent it has with a window."""
    stack.clear()
    context = await browser.new_context(ignore_https_errors=True)
    try:
        page = await context.new_page()
        await page.goto(stack.web.show("wk-headless", job_alert(stack, "wk-headless").html))
        found = await stack.events(2)
    finally:
        await context.close()

    assert [(e.type, e.agent, e.bot) for e in found] == [("open", "bot", True)] * 2
    assert all("HeadlessChrome" in event.ua for event in found)
