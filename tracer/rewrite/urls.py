"""Which `href` values and plain-text URLs are trackable, decoded as a browser would."""

from __future__ import annotations

import html
import re
from html.entities import html5 as _NAMED_REFERENCES

# A character reference: numeric (decimal or hex) or a run of name characters.
_REFERENCE = re.compile(r"&(?:#[xX][0-9a-fA-F]+;?|#[0-9]+;?|([A-Za-z][A-Za-z0-9]*;?))")
_LONGEST_NAME = max(map(len, _NAMED_REFERENCES))
# The URL parser drops leading/trailing C0 controls and spaces, and every tab and newline.
_URL_EDGES = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")

# In plain text a URL runs to whitespace or a character that cannot be in one; trailing
# punctuation belongs to the sentence unless it closes a bracket opened inside the URL.
TEXT_URL = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?*"
_CLOSING = {")": "(", "]": "[", "}": "{"}


def decode_attribute(raw: str) -> str:
    """An attribute value with its character references decoded the way the HTML
    tokenizer does it *in attributes*: a legacy reference without ';' followed by '=' or
    a letter or digit stays as written, so `?a=1&region=eu` keeps `&region` (where
    `html.unescape` would produce `®ion`)."""
    if "\x00" in raw:  # the tokenizer replaces NUL, as it does in every attribute value
        raw = raw.replace("\x00", "\ufffd")
    if "&" not in raw:
        return raw
    # Most references in URLs are "&amp;": splitting on it first is the same as decoding
    # it in place (a reference never spans one) and leaves little for the slow path.
    return "&".join(_decode_references(part) for part in raw.split("&amp;"))


def _decode_references(raw: str) -> str:
    if "&" not in raw:
        return raw
    return _REFERENCE.sub(lambda match: _decode_reference(match, raw), raw)


def _decode_reference(match: re.Match[str], raw: str) -> str:
    name = match[1]
    if name is None:  # numeric: always decoded (html.unescape applies the spec's fixups)
        return html.unescape(match[0])
    if name.endswith(";") and name in _NAMED_REFERENCES:  # a complete one such as "amp;"
        return _NAMED_REFERENCES[name]
    for length in range(min(len(name), _LONGEST_NAME), 1, -1):
        prefix = name[:length]
        if prefix in _NAMED_REFERENCES:
            following = name[length] if length < len(name) else raw[match.end() : match.end() + 1]
            if not prefix.endswith(";") and (following == "=" or following.isalnum()):
                return match[0]
            return _NAMED_REFERENCES[prefix] + name[length:]
    return match[0]


def clean_url(value: str) -> str:
    """What a browser's URL parser starts from: edges trimmed, tabs and newlines removed."""
    value = value.strip(_URL_EDGES)
    if "\t" in value or "\n" in value or "\r" in value:
        value = _TAB_OR_NEWLINE.sub("", value)
    return value


def scheme_of(url: str) -> str:
    """The lower-cased scheme of an absolute URL; "" for a relative one or an anchor."""
    match = _SCHEME.match(url)
    return match[1].lower() if match else ""


def host_of(url: str) -> str:
    """The lower-cased host name of an absolute URL (no user info, no port)."""
    authority = url.partition("://")[2]
    for separator in "/?#\\":
        authority = authority.partition(separator)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].lower()


def trim_text_url(candidate: str) -> str:
    """A URL found in plain text without the punctuation that ends the sentence around it.

    Linear in the length: the brackets are counted once, and only closing brackets and
    punctuation are ever dropped, so the count of openers never changes."""
    end = len(candidate)
    counts: dict[str, int] | None = None
    while end:
        last = candidate[end - 1]
        if last in _TRAILING:
            end -= 1
            continue
        opener = _CLOSING.get(last)
        if opener is None:
            break
        if counts is None:
            counts = {char: candidate.count(char) for char in "()[]{}"}
        if counts[last] <= counts[opener]:
            break
        counts[last] -= 1
        end -= 1
    return candidate[:end]
