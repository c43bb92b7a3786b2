"""The key ring: AEAD keys for tokens, plus the keys that hash recipients and permute slugs.

A key ring is a JSON document::

    {"format": 1,
     "keys": [{"id": 1, "secret": "<base64url 32 bytes>", "state": "decrypt", "created": "…"},
              {"id": 2, "secret": "…", "state": "active", "created": "…"}],
     "recipient_key": "<base64url 32 bytes>",
     "slug_key": "<base64url 32 bytes>"}

Exactly one key is `active` (it seals new links); `decrypt` keys still open the links they
sealed; `retired` keys open nothing but keep their id from being reused. `TRACER_KEYS` is
either the path of such a file or the JSON itself; without it, a development ring is made
under `TRACER_DATA_DIR` with mode 0600.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Literal

import msgspec

from tracer.errors import ConfigurationError
from tracer.files import create_once, open_to_others, private_directory

KeyState = Literal["active", "decrypt", "retired"]
KEY_BYTES = 32
MAX_KEY_ID = 0xFFFF


class Key(msgspec.Struct, forbid_unknown_fields=True):
    id: int
    secret: str
    state: KeyState
    created: str = ""

    def material(self) -> bytes:
        return b64decode(self.secret)

    def public(self) -> dict[str, object]:
        """What may be shown to an operator: everything but the secret."""
        return {"id": self.id, "state": self.state, "created": self.created}


class KeyRing(msgspec.Struct, forbid_unknown_fields=True):
    keys: list[Key]
    recipient_key: str
    slug_key: str
    format: int = 1

    @property
    def active(self) -> Key:
        return next(key for key in self.keys if key.state == "active")

    def usable(self) -> dict[int, bytes]:
        """Key id -> AEAD key for every key that may open tokens."""
        return {key.id: key.material() for key in self.keys if key.state != "retired"}

    def recipient_secret(self) -> bytes:
        return b64decode(self.recipient_key)

    def slug_secret(self) -> bytes:
        return b64decode(self.slug_key)

    def rotate(self) -> KeyRing:
        """A ring whose new active key seals new links; the old active key keeps decrypting."""
        next_id = max(key.id for key in self.keys) + 1
        if next_id > MAX_KEY_ID:
            raise ConfigurationError(f"keys: no key id left after {MAX_KEY_ID}")
        demoted = [
            msgspec.structs.replace(key, state="decrypt") if key.state == "active" else key
            for key in self.keys
        ]
        return msgspec.structs.replace(self, keys=[*demoted, _new_key(next_id)])

    def retire(self, key_id: int) -> KeyRing:
        """A ring in which `key_id` no longer opens anything (its links get the landing page)."""
        target = next((key for key in self.keys if key.id == key_id), None)
        if target is None:
            raise ConfigurationError(f"keys: no key with id {key_id}")
        if target.state == "active":
            raise ConfigurationError(f"keys: key {key_id} is active; rotate before retiring it")
        keys = [
            msgspec.structs.replace(key, state="retired") if key.id == key_id else key
            for key in self.keys
        ]
        return msgspec.structs.replace(self, keys=keys)


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _new_key(key_id: int) -> Key:
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return Key(
        id=key_id, secret=b64encode(secrets.token_bytes(KEY_BYTES)), state="active", created=created
    )


def new_keyring() -> KeyRing:
    return KeyRing(
        keys=[_new_key(1)],
        recipient_key=b64encode(secrets.token_bytes(KEY_BYTES)),
        slug_key=b64encode(secrets.token_bytes(KEY_BYTES)),
    )


def dumps(ring: KeyRing) -> str:
    return json.dumps(msgspec.to_builtins(ring), indent=2) + "\n"


def parse_keyring(text: str, source: str) -> KeyRing:
    try:
        # str(): the text may be a `Secret`, which msgspec's decoder does not take.
        ring = msgspec.json.decode(str(text), type=KeyRing)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"{source}: not a valid key ring ({exc})") from None
    except msgspec.DecodeError as exc:
        raise ConfigurationError(f"{source}: not valid JSON ({exc})") from None
    _check(ring, source)
    return ring


def _check(ring: KeyRing, source: str) -> None:
    problems: list[str] = []
    ids = [key.id for key in ring.keys]
    if len(ids) != len(set(ids)):
        problems.append(f"{source}: key ids must be unique, got {ids}")
    active = [key.id for key in ring.keys if key.state == "active"]
    if len(active) != 1:
        problems.append(f"{source}: exactly one key must be active, found {len(active)}")
    for index, key in enumerate(ring.keys):
        if not 1 <= key.id <= MAX_KEY_ID:
            problems.append(f"{source}: keys[{index}].id: {key.id} must be in 1..{MAX_KEY_ID}")
        if _decoded_length(key.secret) != KEY_BYTES:
            problems.append(f"{source}: keys[{index}].secret must be {KEY_BYTES} base64url bytes")
    for name in ("recipient_key", "slug_key"):
        if _decoded_length(getattr(ring, name)) != KEY_BYTES:
            problems.append(f"{source}: {name} must be {KEY_BYTES} base64url bytes")
    if problems:
        raise ConfigurationError(*problems)


def _decoded_length(text: str) -> int:
    try:
        return len(b64decode(text))
    except ValueError:
        return -1


def write_keyring(ring: KeyRing, path: Path) -> None:
    """Write atomically with mode 0600: a key ring is as secret as a password file."""
    if not path.parent.exists():
        private_directory(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(dumps(ring))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def keyring_location(keys_setting: str | None, dev_path: Path) -> Path | None:
    """The file behind `TRACER_KEYS` (None when it holds inline JSON)."""
    if keys_setting is None:
        return dev_path
    if keys_setting.lstrip().startswith("{"):
        return None
    return Path(keys_setting)


def load_keyring(keys_setting: str | None, dev_path: Path, *, create: bool = True) -> KeyRing:
    """The key ring named by `TRACER_KEYS`, or the development ring, created when absent
    unless `create` is false (commands other than the roles: a ring made up on the spot
    would seal links that no running instance can open)."""
    if keys_setting is not None and keys_setting.lstrip().startswith("{"):
        return parse_keyring(keys_setting, "TRACER_KEYS")
    path = keyring_location(keys_setting, dev_path)
    assert path is not None
    if keys_setting is None and not path.exists():
        if not create:
            raise ConfigurationError(
                f"TRACER_KEYS: not set, and there is no development key ring at {path}: run "
                "this where `tracer up` runs (its data dir), or set TRACER_DATA_DIR to that "
                "data dir, or TRACER_KEYS to the key ring file"
            )
        _create_dev_keyring(path)
    try:
        text = path.read_text(encoding="utf-8")
        loose = open_to_others(path)
    except OSError as exc:
        raise ConfigurationError(f"TRACER_KEYS: cannot read {path} ({exc.strerror})") from None
    if loose:
        # Whoever can read the ring can mint links to anywhere and unmask recipients.
        raise ConfigurationError(
            f"TRACER_KEYS: {path} is open to other users (mode "
            f"{stat.S_IMODE(path.stat().st_mode):04o}); a key ring must be readable by its "
            f"owner only: chmod 600 {path}"
        )
    return parse_keyring(text, str(path))


def _create_dev_keyring(path: Path) -> None:
    # Several processes may start at once (granian workers): exactly one ring wins.
    create_once(path, lambda temporary: write_keyring(new_keyring(), temporary))
