"""Link revocation: a kill switch for links already sent.

Tokens are self-contained, so a link cannot be unmade; it can be refused. A revocation is
a rule of one brand: every link of a campaign, of a message, or to a destination host (and
its subdomains). The edge holds every rule in memory (`RevocationSet`), so a click pays
one set lookup while its brand has no rule; revoked clicks go to the brand's landing page
and are recorded as `revoked_click` events with the reason `revoked:<kind>`.

Rules live in one Redis hash (`redis_keys.REVOCATIONS`), field = JSON `[brand, kind,
value]`, value = the rule's JSON. Every change is announced on `REVOCATIONS_CHANNEL`; the
edge reloads the whole hash then, and every `RELOAD_INTERVAL_S` in case it missed one.
`tracer revoke` and `POST/GET/DELETE /v1/revocations` write and read it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from tracer import redis_keys
from tracer.links import LinkError, normalize_host
from tracer.redis_cluster import AnyRedis
from tracer.rewrite.urls import host_of
from tracer.tokens import LinkPayload

Kind = Literal["campaign", "message_id", "destination_host"]
KINDS: tuple[Kind, ...] = ("campaign", "message_id", "destination_host")
Source = Literal["cli", "api"]
# How often the edge reloads every rule even if no change was announced.
RELOAD_INTERVAL_S = 30.0
MAX_VALUE_CHARS = 255


class RevocationError(ValueError):
    """A rule that cannot be made (the message says which part and why)."""


class Revocation(msgspec.Struct, frozen=True, kw_only=True):
    brand: str
    kind: Kind
    value: str
    created: float = 0.0
    # Who made it: an operator (`tracer revoke`) or the brand's API key.
    source: Source = "cli"
    note: str = ""


_encode = msgspec.json.Encoder().encode
_decode_rule = msgspec.json.Decoder(Revocation).decode


def rule_value(kind: str, value: str) -> str:
    """The value a rule of `kind` is kept under: destination hosts as links carry them
    (IDNA, lower case), campaigns and message ids as given."""
    if kind not in KINDS:
        raise RevocationError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    value = value.strip()
    if not value or len(value) > MAX_VALUE_CHARS:
        raise RevocationError(f"{kind}: must be 1 to {MAX_VALUE_CHARS} characters")
    if kind == "destination_host":
        try:
            return normalize_host(value).rstrip(".")
        except LinkError as exc:
            raise RevocationError(f"destination_host: {exc}") from None
    return value


def new_rule(brand: str, kind: str, value: str, *, source: Source, note: str = "") -> Revocation:
    return Revocation(
        brand=brand,
        kind=kind,  # type: ignore[arg-type]  (checked by rule_value)
        value=rule_value(kind, value),
        created=round(time.time(), 3),
        source=source,
        note=note[:500],
    )


def _field(brand: str, kind: str, value: str) -> bytes:
    return _encode([brand, kind, value])


def hash_entry(rule: Revocation) -> tuple[bytes, bytes]:
    """(field, value) of `rule` in the `REVOCATIONS` hash (for bulk loads)."""
    return _field(rule.brand, rule.kind, rule.value), _encode(rule)


async def add(client: AnyRedis, rule: Revocation) -> bool:
    """Store `rule` (False: the same rule was there already) and announce the change."""
    created = await client.hsetnx(
        redis_keys.REVOCATIONS, _field(rule.brand, rule.kind, rule.value), _encode(rule)
    )
    await client.publish(redis_keys.REVOCATIONS_CHANNEL, rule.brand)
    return bool(created)


async def find(client: AnyRedis, brand: str, kind: str, value: str) -> Revocation | None:
    raw = await client.hget(redis_keys.REVOCATIONS, _field(brand, kind, rule_value(kind, value)))
    return _decode_rule(raw) if raw is not None else None


async def remove(client: AnyRedis, brand: str, kind: str, value: str) -> bool:
    """Drop a rule (False: there was none) and announce the change."""
    removed = await client.hdel(
        redis_keys.REVOCATIONS, _field(brand, kind, rule_value(kind, value))
    )
    await client.publish(redis_keys.REVOCATIONS_CHANNEL, brand)
    return bool(removed)


async def load(client: AnyRedis, brand: str | None = None) -> list[Revocation]:
    """Every rule (of `brand`), oldest first."""
    rules = []
    for raw in (await client.hgetall(redis_keys.REVOCATIONS)).values():
        try:
            rule = _decode_rule(raw)
        except msgspec.DecodeError:
            continue  # not ours to judge: a rule this version cannot read is left alone
        if brand is None or rule.brand == brand:
            rules.append(rule)
    return sorted(rules, key=lambda rule: (rule.created, rule.kind, rule.value))


def encode_rules(rules: Iterable[Revocation]) -> bytes:
    return _encode(list(rules))


def decode_rules(data: bytes) -> list[Revocation]:
    return msgspec.json.decode(data, type=list[Revocation])


@dataclass(frozen=True)
class _BrandRules:
    campaigns: frozenset[str] = frozenset()
    message_ids: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RevocationSet:
    """Every rule, arranged for the click path: `brands` first (one set lookup), then the
    rules of that brand."""

    brands: frozenset[str] = frozenset()
    _by_brand: dict[str, _BrandRules] = field(default_factory=dict)
    size: int = 0

    @classmethod
    def of(cls, rules: Iterable[Revocation]) -> RevocationSet:
        grouped: dict[str, dict[str, set[str]]] = {}
        count = 0
        for rule in rules:
            grouped.setdefault(rule.brand, {kind: set() for kind in KINDS})[rule.kind].add(
                rule.value
            )
            count += 1
        by_brand = {
            brand: _BrandRules(
                frozenset(kinds["campaign"]),
                frozenset(kinds["message_id"]),
                frozenset(kinds["destination_host"]),
            )
            for brand, kinds in grouped.items()
        }
        return cls(frozenset(by_brand), by_brand, count)

    def rule_for(self, payload: LinkPayload) -> str | None:
        """The kind of rule that revokes this link ("campaign", …), or None."""
        rules = self._by_brand.get(payload.brand)
        if rules is None:
            return None
        if payload.campaign and payload.campaign in rules.campaigns:
            return "campaign"
        if payload.message_id in rules.message_ids:
            return "message_id"
        if rules.hosts and _host_revoked(destination_host(payload.url), rules.hosts):
            return "destination_host"
        return None


def destination_host(url: str) -> str:
    """The host of a destination the link builder normalised, without a trailing dot (a
    rule for evil.example covers evil.example.)."""
    return host_of(url).rstrip(".")


def _host_revoked(host: str, revoked: frozenset[str]) -> bool:
    """`host` or any domain above it is revoked (evil.example covers www.evil.example)."""
    while host:
        if host in revoked:
            return True
        host = host.partition(".")[2]
    return False
