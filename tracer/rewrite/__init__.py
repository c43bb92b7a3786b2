"""The HTML rewriter: an outgoing email in, its tracked form out (see docs/rewriting.md).

from tracer.rewrite import rewrite_email
"""

from tracer.rewrite.rewriter import (
    ONE_CLICK,
    RewriteTimeout,
    RewrittenEmail,
    SkippedLink,
    TrackedLink,
    rewrite_email,
)

__all__ = [
    "ONE_CLICK",
    "RewriteTimeout",
    "RewrittenEmail",
    "SkippedLink",
    "TrackedLink",
    "rewrite_email",
]
