"""The admin token that guards the dashboard (brand API keys never do).

`TRACER_ADMIN_TOKEN` when it is set. Otherwise the token kept in `<data dir>/admin-token`,
generated at random (mode 0600) the first time, so that it survives restarts and every
admin process sharing the data directory accepts the same one. Logs name the file, never
the token.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tracer.errors import ConfigurationError
from tracer.files import create_once, private_directory
from tracer.settings import Secret

logger = logging.getLogger(__name__)

ENV_VAR = "TRACER_ADMIN_TOKEN"
FILE_NAME = "admin-token"
# Anything shorter could be guessed; a generated token has 43 characters.
MIN_LENGTH = 16


@dataclass(frozen=True)
class AdminToken:
    value: Secret
    # Where it came from, for the start-up log line: the variable's name or the file.
    source: str

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison: the timing says nothing about how close a guess was."""
        return hmac.compare_digest(
            candidate.encode("utf-8", "surrogatepass"), self.value.encode("utf-8")
        )


def load_admin_token(environ: Mapping[str, str], data_dir: Path) -> AdminToken:
    """The configured token, or the data directory's (created when missing)."""
    configured = environ.get(ENV_VAR, "").strip()
    if configured:
        _check_length(configured, ENV_VAR)
        logger.info("Dashboard admin token: taken from %s.", ENV_VAR)
        return AdminToken(Secret(configured), ENV_VAR)
    path = data_dir / FILE_NAME
    if not path.exists():
        _create(path)
        logger.warning(
            "%s is not set: generated a dashboard admin token in %s (mode 0600); "
            "log in to the dashboard with the token that file holds.",
            ENV_VAR,
            path,
        )
    else:
        logger.info("Dashboard admin token: read from %s.", path)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the admin token ({exc.strerror})") from None
    _check_length(value, str(path))
    _refuse_if_shared(path)
    return AdminToken(Secret(value), str(path))


def _check_length(value: str, source: str) -> None:
    if len(value) < MIN_LENGTH:
        raise ConfigurationError(
            f"{source}: the admin token has {len(value)} characters; use at least {MIN_LENGTH} "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def _create(path: Path) -> None:
    if not path.parent.exists():
        private_directory(path.parent)
    create_once(path, _write_new_token)


def _write_new_token(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")


def _refuse_if_shared(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"{path}: the admin token is open to other users (mode {mode:04o}); chmod 600 {path}"
        )
