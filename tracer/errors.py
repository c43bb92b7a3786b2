"""Exceptions shared by every role."""


class TracerError(Exception):
    """Base class of Tracer's own errors."""


class ConfigurationError(TracerError):
    """Settings, the brands file or the key ring are not valid; the process exits 1.

    `problems` holds every problem found, one `path: value reason` line each.
    """

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class TokenError(TracerError):
    """A token is malformed, tampered with, expired or signed by an unknown key.

    `reason` names the failure for counters and dropped-hit records ("tampered", …): the
    edge's rejections and the batcher's dropped opens use the same names."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
