"""Every Location the edge sends is ASCII, parses with a WHATWG URL parser (ada, as a
browser would), and names the host the link was made for: over real HTTP, for
destinations generated to mislead a parser, and for tokens sealed by a laxer builder."""

from __future__ import annotations

import time

import ada_url
from hypothesis import HealthCheck, given, settings

from tests.destinations import destinations
from tests.edge.helpers import EdgeProcess, fetch
from tracer.links import LinkBuilder, LinkError
from tracer.tokens import CLICK, LinkPayload

HOST = "t.northjobs.example"


def _location(edge: EdgeProcess, tracked: str) -> str:
    reply = fetch(edge.port, tracked.removeprefix(f"https://{HOST}"), HOST)
    assert reply.status == 302, reply
    return reply.location


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(url=destinations())
def test_every_location_is_ascii_and_goes_to_the_host_of_the_link(
    edge: EdgeProcess, builder: LinkBuilder, url: str
) -> None:
    try:
        tracked = builder.click("northjobs", "m-loc", url, campaign="spring ü", job_source="x y")
    except LinkError:
        return
    location = _location(edge, tracked)
    assert location.isascii() and " " not in location, location
    parsed = ada_url.URL(location)
    assert parsed.hostname == ada_url.URL(url.strip()).hostname, (url, location)


def test_a_lax_token_gets_an_ascii_location_or_the_landing_page(
    edge: EdgeProcess, builder: LinkBuilder
) -> None:
    """Tokens sealed before destinations were normalised as strictly as now: the edge
    normalises them again, or sends the click to the brand's landing page."""

    def sealed(url: str) -> str:
        payload = LinkPayload(
            kind=CLICK, brand="northjobs", message_id="m-old", issued=int(time.time()), url=url
        )
        return f"https://{HOST}/c/{builder.codec.seal(payload)}"

    assert _location(edge, sealed("https://ü@jobs.example/ä")).startswith(
        "https://%C3%BC@jobs.example/%C3%A4?"
    )
    for bad in ("https://evil exa mple.com/p", "https://good.example:ÿ/", "https://[ü]/x"):
        location = _location(edge, sealed(bad))
        assert location.startswith("https://northjobs.example/?utm_source=northjobs&"), location
