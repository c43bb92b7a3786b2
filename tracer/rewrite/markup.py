"""The markup the rewriter adds to an email: two open pixels and the canary link.

Each snippet is one line without a newline, so that it fits a document with CRLF or LF
line endings alike, and uses `/>` so that it is valid in HTML and in XHTML templates.
"""

from __future__ import annotations

# Rendered 1x1 and transparent: clients skip images styled display:none, so the pixel
# stays "displayed" but takes no visible room.
_PIXEL_STYLE = (
    "display:block;width:1px;height:1px;max-width:1px;max-height:1px;border:0;margin:0;"
    "padding:0;outline:none;text-decoration:none;overflow:hidden"
)
# Nobody can click or tab to it and screen readers skip it: no content (nothing to click
# even where a client ignores display:none), hidden in Outlook too (mso-hide), removed
# from the accessibility tree (aria-hidden) and from the tab order (tabindex=-1).
_CANARY_STYLE = (
    "display:none !important;mso-hide:all;font-size:0;line-height:0;max-height:0;"
    "max-width:0;overflow:hidden;opacity:0"
)


def open_pixel(url: str) -> str:
    """A 1x1 image that fetches the open-tracking URL."""
    return f'<img src="{url}" alt="" width="1" height="1" border="0" style="{_PIXEL_STYLE}" />'


def canary_link(url: str) -> str:
    """An empty, hidden link: only software that follows every link in a message (link
    scanners, security gateways) ever requests it."""
    return f'<a href="{url}" style="{_CANARY_STYLE}" aria-hidden="true" tabindex="-1"></a>'
