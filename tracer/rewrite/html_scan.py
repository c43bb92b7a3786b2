"""Find what the rewriter needs in an HTML document, with exact source offsets.

This is a tokenizer that follows the WHATWG HTML tokenization rules for the states that
decide what is markup and what is not: tags and their attributes (quoted, unquoted,
missing values, stray slashes), comments (including `<!-->` and `--!>`), doctypes and bogus
comments, the raw-text elements (`<script>`, `<style>`, `<title>`, `<textarea>`…) whose
content is never markup, and a document that ends inside a tag. It does not build a tree:
the rewriter only changes attribute values and inserts markup at a few places, so it needs
*where* things are, which a tree builder would throw away.

Why not `html.parser.HTMLParser`: it reports line/column positions and the raw start-tag
text, so it could do this job, but it parses every attribute of every tag in Python and
runs at about 7 ms for a 60 KB marketing email; the rewriter's whole budget is 2 ms. Here
one compiled pattern walks from tag to tag and only the few tags that matter (`<a>`,
`<area>`, VML shapes, `<body>`…) have their attributes looked at.

Known simplifications, all harmless for email: no foreign content (`<![CDATA[` inside
`<svg>` is treated as a bogus comment) and no script-data escape states.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_WS = "\\t\\n\\f\\r "
_TAG_NAME = rf"[A-Za-z][^{_WS}/>]*+"
# The rest of a tag after its name, up to and including its '>': separators (white space,
# stray '/'), then attributes, each a name (which may begin with '=') and, when '=' follows
# it, a value. A quote only opens a value right after that '=' (elsewhere it is part of a
# name or of an unquoted value), so a '>' inside a quoted value does not end the tag, and a
# quote that is never closed means the tag never ends: the pattern fails and the document
# ends inside that tag. Possessive and atomic groups make it as deterministic as the
# tokenizer's state machine (no backtracking, linear time).
_VALUE = rf"[{_WS}]*+(?:\"[^\"]*+\"|'[^']*+'|[^{_WS}>\"'][^{_WS}>]*+|(?=>))"
_TAG_REST = (
    rf"(?:[{_WS}/]++"
    rf"|(?:=[^{_WS}/>=]*+|[^{_WS}/>=]++)(?>[{_WS}]*+={_VALUE}|(?![{_WS}]*+=))"
    r")*+>"
)
# Elements whose content is text up to their end tag (RAWTEXT, RCDATA, script data).
_RAW_TEXT_ELEMENTS = (
    "script",
    "style",
    "title",
    "textarea",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
)
_LINK_ELEMENTS = ("a", "area")  # and VML shapes, "v:…" (Outlook's bulletproof buttons)
_LANDMARK_STARTS = ("body", "html")
_LANDMARK_ENDS = ("body", "html", "head")
_TAG_END = f"(?=[{_WS}/>])"
_NOTABLE_START = (
    "(?i:"
    + "|".join((*_LINK_ELEMENTS, *_RAW_TEXT_ELEMENTS, *_LANDMARK_STARTS, "plaintext"))
    + f"){_TAG_END}|(?i:v):"
)
_NOTABLE_END = "(?i:" + "|".join(_LANDMARK_ENDS) + f"){_TAG_END}"
# Markup that changes nothing for the rewriter, consumed inside the regex engine so that
# Python only sees the few tokens that matter: text, other tags, plain comments, bogus
# comments, and a '<' that does not open anything.
_UNREMARKABLE = (
    r"(?:[^<]++"
    r"|<(?![A-Za-z/!?])|</?\Z"
    rf"|<(?!{_NOTABLE_START})[A-Za-z][^{_WS}/>]*+{_TAG_REST}"
    rf"|</(?!{_NOTABLE_END})[A-Za-z][^{_WS}/>]*+{_TAG_REST}"
    r"|<!--(?!(?i:\[if\b))(?:>|->|(?s:.*?)--!?>)"
    r"|<!(?!--|(?i:doctype))[^>]*+(?:>|\Z)"
    r"|<(?:\?|/(?=[^A-Za-z>]))[^>]*+(?:>|\Z)"
    r"|</>"
    r")*+"
)
_NEXT_TOKEN = re.compile(
    rf"{_UNREMARKABLE}"
    rf"(?:<(?P<start>{_TAG_NAME}){_TAG_REST}"
    rf"|</(?P<end>{_TAG_NAME}){_TAG_REST}"
    r"|<(?P<comment>!--)"
    r"|<(?P<doctype>!)[^>]*+(?:>|\Z)"
    r"|<(?P<cut>/?[A-Za-z])"  # a tag that the end of the document cuts off
    r")?"
)
_ATTRIBUTE_PARTS = re.compile(
    rf"(?P<name>=[^{_WS}/>=]*+|[^{_WS}/>=]++)"
    rf"(?:[{_WS}]*+=[{_WS}]*+"
    rf"(?:\"(?P<dq>[^\"]*+)\"|'(?P<sq>[^']*+)'|(?P<uq>[^{_WS}>\"'][^{_WS}>]*+)|(?=>)))?"
)
_COMMENT_END = re.compile(r"--!?>")
# `<!--[if mso]> … <![endif]-->`: Outlook renders what is inside as HTML.
_CONDITIONAL_OPEN = re.compile(r"\[if\b[^\]>]*\]>", re.IGNORECASE)
_CONDITIONAL_CLOSE = "<![endif]"

_RAW_TEXT_END = {
    name: re.compile(rf"</{name}(?=[{_WS}/>])", re.IGNORECASE) for name in _RAW_TEXT_ELEMENTS
}


@dataclass(slots=True)
class HrefSite:
    """An `href` of a link element: where its value is and what it says."""

    start: int  # offset of the value's first character (inside the quotes, if any)
    end: int
    raw: str  # the value as written, character references not yet decoded
    notrack: bool  # the element carries `data-notrack`


@dataclass(slots=True)
class HtmlScan:
    """Links and landmarks of one document; every offset indexes the scanned string."""

    hrefs: list[HrefSite] = field(default_factory=list)
    doctype_end: int = -1
    html_start_end: int = -1
    head_close_end: int = -1
    body_start_end: int = -1
    body_close_start: int = -1
    html_close_start: int = -1

    @property
    def header_at(self) -> int:
        """Where content begins: right after `<body…>`, else after the head, else after
        `<html>` or the doctype (never before the doctype: that would change the mode)."""
        if self.body_start_end >= 0:
            return self.body_start_end
        return max(self.head_close_end, self.html_start_end, self.doctype_end, 0)

    def footer_at(self, length: int) -> int:
        """Where content ends: before the last `</body>`, else the last `</html>`, else at
        the end of the document."""
        for offset in (self.body_close_start, self.html_close_start):
            if offset >= self.header_at:
                return offset
        return length


def scan_html(source: str) -> HtmlScan:
    """Every link `href` (in document order, also inside Outlook conditional comments) and
    the landmarks where pixels go."""
    scan = HtmlScan()
    _Scanner(source, scan).run(0, len(source), top_level=True)
    return scan


class _Scanner:
    def __init__(self, source: str, scan: HtmlScan) -> None:
        self.source = source
        self.scan = scan

    def run(self, pos: int, endpos: int, top_level: bool) -> None:
        source, next_token = self.source, _NEXT_TOKEN.match
        while pos < endpos:
            match = next_token(source, pos, endpos)
            kind, pos = match.lastgroup, match.end()
            if kind == "start":
                name = match["start"].lower()
                if name in _RAW_TEXT_END:
                    end = _RAW_TEXT_END[name].search(source, pos, endpos)
                    if end is None:
                        return
                    pos = end.start()
                elif name in _LINK_ELEMENTS or name.startswith("v:"):
                    self._link(match.end("start"), pos)
                elif name == "plaintext":
                    return
                elif top_level:
                    self._start_landmark(name, pos)
            elif kind == "end":
                if top_level:
                    self._end_landmark(match["end"].lower(), match.start("end") - 2, pos)
            elif kind == "comment":
                pos = self._comment(pos, endpos, top_level)
            elif kind == "doctype":
                if top_level and self.scan.doctype_end < 0:
                    self.scan.doctype_end = pos
            else:  # the end of the document, or of a tag that the end cuts off
                return

    def _link(self, attributes_start: int, tag_end: int) -> None:
        href: tuple[int, int] | None = None
        seen_href = notrack = False
        # Groups by number (1 name, 2-4 the value's three spellings) and names compared by
        # length first: a link tag's other attributes (style, class, target…) cost little.
        for part in _ATTRIBUTE_PARTS.finditer(self.source, attributes_start, tag_end):
            name = part.group(1)
            if len(name) == 4:
                if not seen_href and name.lower() == "href":  # a repeated one is ignored
                    seen_href = True
                    value = part.lastindex
                    href = part.span(value) if value is not None and value > 1 else None
            elif len(name) == 12 and name.lower() == "data-notrack":
                notrack = True
        if href is not None:
            start, end = href
            self.scan.hrefs.append(HrefSite(start, end, self.source[start:end], notrack))

    def _start_landmark(self, name: str, tag_end: int) -> None:
        scan = self.scan
        if name == "body" and scan.body_start_end < 0:
            scan.body_start_end = tag_end
        elif name == "html" and scan.html_start_end < 0:
            scan.html_start_end = tag_end

    def _end_landmark(self, name: str, tag_start: int, tag_end: int) -> None:
        scan = self.scan
        if name == "body":
            scan.body_close_start = tag_start
        elif name == "html":
            scan.html_close_start = tag_start
        elif name == "head" and scan.head_close_end < 0:
            scan.head_close_end = tag_end

    def _comment(self, data_start: int, endpos: int, top_level: bool) -> int:
        """Skip a comment, scanning the inside of a conditional one; return where the
        document continues. Conditional comments do not nest (the first `-->` ends the
        outer one too), so only those of the document itself are opened."""
        source = self.source
        if source.startswith(">", data_start, endpos):
            return data_start + 1
        if source.startswith("->", data_start, endpos):
            return data_start + 2
        close = _COMMENT_END.search(source, data_start, endpos)
        data_end, resume = (close.start(), close.end()) if close else (endpos, endpos)
        opening = _CONDITIONAL_OPEN.match(source, data_start, data_end) if top_level else None
        if opening is not None:
            inner_end = source.rfind(_CONDITIONAL_CLOSE, opening.end(), data_end)
            self.run(opening.end(), inner_end if inner_end >= 0 else data_end, top_level=False)
        return resume
