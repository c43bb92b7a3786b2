"""The dashboard's two HTML pages, read once from the package's `static/` directory.

Each page is one self-contained file: its CSS and JavaScript are inline and nothing is
fetched from elsewhere, so it works offline. A Content-Security-Policy allows exactly those
inline blocks (by their SHA-256), and connections to this server only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

_BLOCK = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@dataclass(frozen=True)
class Page:
    body: bytes
    headers: dict[str, str]

    def response(self, status: int = 200, body: bytes | None = None) -> web.Response:
        return web.Response(
            status=status,
            body=self.body if body is None else body,
            headers=self.headers,
            content_type="text/html",
            charset="utf-8",
        )


@functools.cache
def page(name: str) -> Page:
    text = resources.files("admin.dashboard").joinpath("static", name).read_text("utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, content in _BLOCK.findall(text):
        digest = base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    sources = {kind: " ".join(found) or "'none'" for kind, found in hashes.items()}
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {sources['script']}",
            f"style-src {sources['style']}",
            "connect-src 'self'",
            "img-src 'self' data:",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    return Page(body=text.encode(), headers=headers)
