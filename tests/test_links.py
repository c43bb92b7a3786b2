"""Destination URLs: the shortcut for URLs that are already normal gives exactly what the
full normalization gives, for every URL."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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
