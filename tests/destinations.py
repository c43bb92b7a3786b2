"""Destination URLs that try to mislead: a Hypothesis strategy shared by the link tests
and the edge's Location tests.

Hosts are put together from pieces a URL parser may read differently: full-width
separators that IDNA 2003 maps to '/', '@', '.', '#' or '?', numbers a browser reads as
IPv4, IP literals, ports that are not numbers, user info, spaces, backslashes."""

from __future__ import annotations

from hypothesis import strategies as st

_LABELS = st.sampled_from(
    ["jobs", "Bücher", "evil", "example", "\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45", "a-b",
     "xn--bcher-kva", "xn--a", "1", "0x7f", "255", "256", "faß", "ü", "", "a_b", " ", "%41",
     "-a", "\uff21\uff22", "\u00ad", "ß", "\u200d", "٣"]
)  # fmt: skip
_HOST_SEPARATORS = st.sampled_from(
    [".", ".", ".", "\uff0f", "\uff20", "\uff0e", "\u3002", "\uff03", "\uff1f", "@", ":",
     "\\", "/", "?", "#", "", "%2e", "\u2024"]
)  # fmt: skip
_NAMES = st.lists(st.tuples(_LABELS, _HOST_SEPARATORS), min_size=1, max_size=4).map(
    lambda parts: "".join(label + separator for label, separator in parts) + "example"
)
_LITERALS = st.sampled_from(
    ["[::1]", "[ü]", "[::ffff:1.2.3.4]", "[fe80::1%25eth0]", "[1.2.3.4]", "[::1", "[::1]x",
     "127.0.0.1", "127.1", "0x7f.0.0.1", "1.2.3.4.", "01.2.3.4"]
)  # fmt: skip
_PORTS = st.sampled_from(
    ["", "", ":443", ":", ":ÿ", ":65536", ":0", ":\uff18\uff10", ": 80", ":08080"]
)
_USERINFO = st.one_of(
    st.just(""),
    st.text(alphabet=list("aü:@% /#\\?Z"), max_size=6).map(lambda text: text + "@"),
)
_TAILS = st.text(alphabet=list('aZ09/\\?#@%ü é[]^|{}"<>&=;:\uff0f'), max_size=20)


@st.composite
def destinations(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https", "http", "HTTPS", "https", "ftp"]))
    slashes = draw(st.sampled_from(["://", "://", "://", ":///", ":/", "://\\"]))
    host = draw(st.one_of(_NAMES, _NAMES, _LITERALS))
    separator = draw(st.sampled_from(["/", "/", "?", "#", "\\", ""]))
    return f"{scheme}{slashes}{draw(_USERINFO)}{host}{draw(_PORTS)}{separator}{draw(_TAILS)}"
