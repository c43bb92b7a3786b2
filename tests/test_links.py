"""Destination URLs: the shortcut for URLs that are already normal gives exactly what the
full normalization gives, for every URL."""

from __future__ import annotations

import ada_url
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.destinations import destinations
from tracer.links import MAX_URL_CHARS, LinkError, _normalize, normalize_destination

_HOSTS = st.sampled_from(
    ["jobs.example", "Jobs.Example", "a-b.example:8443", "xn--bcher-kva.example", "bücher.example",
     "user@jobs.example", "[::1]:8080", "", "jobs.example:"]
)  # fmt: skip
_SAFE = st.sampled_from([*"aZ09-._~!#$%&'()*+,/:;=?@[]"])
_UNSAFE = st.sampled_from([" ", "é", "\t", '"', "<", "^", "\x7f"])
# Mostly tails the shortcut takes, and some it must leave to the full path.
_TAILS = st.one_of(
    st.lists(_SAFE, max_size=30).map("".join),
    st.lists(st.one_of(_SAFE, _UNSAFE), max_size=30).map("".join),
)


def outcome(normalize, url: str) -> str:
    try:
        return normalize(url)
    except LinkError as exc:
        return f"LinkError: {exc}"


@settings(max_examples=400)
@given(scheme=st.sampled_from(["https", "http", "HTTPS", "ftp"]), host=_HOSTS, tail=_TAILS,
       separator=st.sampled_from(["/", "?", "#", ""]))  # fmt: skip
@example(scheme="https", host="Jobs.Example", tail="x", separator="/")
@example(scheme="https", host="jobs.example", tail="x=@Y", separator="?")
def test_the_shortcut_agrees_with_the_full_normalization(
    scheme: str, host: str, tail: str, separator: str
) -> None:
    url = f"{scheme}://{host}{separator}{tail}"
    assert outcome(normalize_destination, url) == outcome(_normalize, url.strip())


def test_an_already_normal_url_comes_back_unchanged() -> None:
    url = "https://northjobs.example/jobs/42?utm_source=x&q=senior%20dev#apply"
    assert normalize_destination(url) == url


def test_a_url_too_long_is_refused_either_way() -> None:
    url = "https://northjobs.example/" + "a" * MAX_URL_CHARS
    with pytest.raises(LinkError, match="longer than"):
        normalize_destination(url)


# --- what a browser makes of a destination ----------------------------------------------
@settings(max_examples=2000)
@given(url=destinations())
@example(url="https://evil.example\uff0f.alpha.example/jobs/1")
@example(url="https://jobs.alpha.example\uff20evil.example/")
@example(url="https://ü@evil.example/")
@example(url="https://good.example:ÿ/")
@example(url="https://[ü]/x")
@example(url="https://evil exa mple.com/p")
@example(url="https://jobs.example\\@evil.example/")
@example(url="https://jobs.example?x@evil.example/")
def test_a_destination_goes_where_a_browser_would_go(url: str) -> None:
    """Whatever is accepted comes out ASCII, without spaces, stable under normalising
    again, parsed by a WHATWG URL parser (ada) to the host that parser finds in the URL
    as given."""
    try:
        normalized = normalize_destination(url)
    except LinkError:
        return
    assert normalized.isascii() and " " not in normalized
    assert normalize_destination(normalized) == normalized
    carried = ada_url.URL(normalized)
    assert carried.hostname == ada_url.URL(url.strip()).hostname
    assert carried.protocol in ("http:", "https:")


@pytest.mark.parametrize(
    "url",
    ["https://evil.example\uff0f.alpha.example/jobs/1", "https://jobs.alpha.example\uff20evil.example/",
     "https://good.example:ÿ/", "https://[ü]/x", "https://evil exa mple.com/p", "https://127.1/",
     "https://a_b.example/", "https://xn--a.example/", "https:///jobs.example/",
     "https://[fe80::1%25eth0]/"],
)  # fmt: skip
def test_a_destination_no_browser_reads_as_written_is_refused(url: str) -> None:
    with pytest.raises(LinkError, match="has "):
        normalize_destination(url)


def test_user_info_is_percent_encoded() -> None:
    assert normalize_destination("https://ü:p^w@evil.example/") == (
        "https://%C3%BC:p%5Ew@evil.example/"
    )
