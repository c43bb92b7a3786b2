"""The brands file: every brand of the deployment, its hosts, policies and secrets.

The file is TOML (see `config/brands.example.toml`). It is read once at start-up and
validated completely: `load_brands` collects *every* problem, each as one
`path: value reason` line, and raises `ConfigurationError` with all of them, so that
`tracer config check` can show an operator everything to fix in one go.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import string
import tomllib
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from tracer import redis_keys
from tracer.errors import ConfigurationError
from tracer.events import AGENTS, EVENT_TYPES
from tracer.settings import Secret

UTM_PLACEHOLDERS = ("brand", "channel", "campaign", "job_source", "message_id", "link")


class Webhook(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    # A `Secret`: a brand printed in a log line or a traceback never shows it.
    secret: Secret
    events: list[str] = msgspec.field(default_factory=lambda: ["open", "click", "unsubscribe"])
    # Secrets still accepted by the receiver while `secret` rotates in: each delivery is
    # signed with every one of them (Standard Webhooks allows several signatures).
    previous_secrets: list[Secret] = msgspec.field(default_factory=list)
    # Refuse loopback, private and link-local targets unless the operator says otherwise.
    allow_private: bool = False
    # Deliver machine traffic (bots, scanners, MPP) too; by default only what the brand's
    # bot policy counts as human.
    include_bots: bool = False
    batch_max_events: int = 1
    batch_max_wait_ms: int = 0
    max_concurrency: int = 16
    timeout_s: float = 10.0
    # Redis Stream that receives the events when this endpoint is disabled or dead-lettered.
    fallback_stream: str | None = None


class BotPolicy(msgspec.Struct, forbid_unknown_fields=True):
    # Agents counted as people in metrics, stats and webhooks. Gmail/Yahoo image proxies
    # fetch images only when a person opens the mail, so `proxy` counts by default.
    human_agents: list[str] = msgspec.field(default_factory=lambda: ["human", "proxy"])
    # A click this soon after the message was sent is a scanner's, not a reader's.
    min_click_delay_s: float = 2.0
    # A click from hosting/cloud address space (tracer/data/cloud-networks.json and the
    # `cloud` vendors of networks.toml) this soon after sending is a scanner's
    # (`cloud-scan:<provider>`); 0 turns the rule off.
    cloud_scan_window_s: float = 300.0
    # Later clicks from such space are noted (`cloud:<provider>`) and count as a person's;
    # true makes them scanners too.
    cloud_clicks_are_scanners: bool = False
    # Extra CIDRs per vendor, merged with the lists shipped in tracer/data/networks.
    networks: dict[str, list[str]] = msgspec.field(default_factory=dict)
    # Shipped vendor lists this brand does not want applied.
    ignore_vendors: list[str] = msgspec.field(default_factory=list)


class Privacy(msgspec.Struct, forbid_unknown_fields=True):
    # Leading bits of the client address kept in events (32/128 keep it whole, 0 drops it).
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    store_user_agent: bool = True
    retention_days: int = 395
    # Derive the email client, its type, OS and device class from the user agent.
    client_info: bool = True
    # Look the client address up in TRACER_GEOIP_DB (before truncation) for its country.
    country: bool = True


class UnsubscribePage(msgspec.Struct, forbid_unknown_fields=True):
    logo_url: str = ""
    primary_color: str = "#1f6feb"
    background_color: str = "#ffffff"
    text_color: str = "#1f2328"
    support_email: str = ""
    # Named lists a recipient can leave on their own (id -> label shown on the page).
    lists: dict[str, str] = msgspec.field(default_factory=dict)


class ApiKey(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    # Hex SHA-256 of the key; the key itself is never stored.
    sha256: str


def _default_utm() -> dict[str, str]:
    return {"utm_source": "{brand}", "utm_medium": "{channel}", "utm_campaign": "{campaign}"}


class Brand(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    name: str
    hosts: list[str]
    landing_url: str
    webhooks: list[Webhook] = msgspec.field(default_factory=list)
    # Query parameters added to every click's destination; values are templates over
    # UTM_PLACEHOLDERS. A parameter whose value renders empty is left out.
    utm: dict[str, str] = msgspec.field(default_factory=_default_utm)
    # Replace UTM parameters already present in the destination (default: keep them).
    utm_override: bool = False
    click_id_param: str = "tclid"
    # Value of one click per job source, for revenue attribution.
    cpc: dict[str, float] = msgspec.field(default_factory=dict)
    currency: str = "USD"
    # Links older than this many days answer with the landing page (0: never expire).
    link_ttl_days: int = 0
    bot_policy: BotPolicy = msgspec.field(default_factory=BotPolicy)
    privacy: Privacy = msgspec.field(default_factory=Privacy)
    unsubscribe: UnsubscribePage = msgspec.field(default_factory=UnsubscribePage)
    api_keys: list[ApiKey] = msgspec.field(default_factory=list)

    @property
    def primary_host(self) -> str:
        return self.hosts[0]


class Brands:
    """The validated brands of a deployment, indexed by id and by tracking host."""

    def __init__(self, brands: list[Brand], source: str = "") -> None:
        self.source = source
        self.all = brands
        self.by_id = {brand.id: brand for brand in brands}
        self.by_host = {host: brand for brand in brands for host in brand.hosts}

    def __iter__(self) -> Iterator[Brand]:
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)

    def get(self, brand_id: str) -> Brand:
        try:
            return self.by_id[brand_id]
        except KeyError:
            raise KeyError(f"unknown brand {brand_id!r}") from None


def load_brands(path: Path | str) -> Brands:
    """Read and validate a brands file; raise `ConfigurationError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the brands file ({exc.strerror})") from None
    return parse_brands(text, source=str(path))


def parse_brands(text: str, source: str = "<brands>") -> Brands:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source}: not valid TOML ({exc})") from None
    problems: list[str] = [f"{key}: unknown top-level key" for key in sorted(set(raw) - {"brands"})]
    entries = raw.get("brands")
    if not isinstance(entries, list) or not entries:
        problems.append("brands: at least one [[brands]] table is required")
        raise ConfigurationError(*problems)
    converter = _Converter()
    brands = [
        converter.convert(entry, Brand, f"brands[{index}]") for index, entry in enumerate(entries)
    ]
    semantic: list[str] = []
    for index, brand in enumerate(brands):
        _check_brand(brand, f"brands[{index}]", semantic)
    _check_unique(brands, semantic)
    # A field that did not convert holds a placeholder: its semantic complaints are noise.
    problems += converter.problems
    problems += [p for p in semantic if not converter.covers(p)]
    if problems:
        raise ConfigurationError(*problems)
    return Brands(brands, source=source)


# --- structural conversion, collecting every error -------------------------------------


class _Converter:
    """Converts raw TOML to the schema field by field, so one bad value does not hide the
    others. A value that cannot be converted is recorded and replaced by a placeholder."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.failed: list[str] = []

    def covers(self, problem: str) -> bool:
        path = problem.split(":", 1)[0]
        return any(path == f or path.startswith((f + ".", f + "[")) for f in self.failed)

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")
        self.failed.append(path)

    def convert(self, raw: Any, kind: Any, path: str) -> Any:
        if _is_struct(kind):
            return self._struct(raw, kind, path)
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin is list and isinstance(raw, list):
            return [self.convert(item, args[0], f"{path}[{i}]") for i, item in enumerate(raw)]
        if origin is dict and isinstance(raw, dict):
            return {key: self.convert(val, args[1], f"{path}.{key}") for key, val in raw.items()}
        if kind is Secret:
            if isinstance(raw, str):
                return Secret(raw)
            self.fail(path, f"a {type(raw).__name__} is not valid (expected a string)")
            return Secret("")
        try:
            return msgspec.convert(raw, kind)
        except msgspec.ValidationError as exc:
            detail = str(exc).partition(" - at `$")[0]
            self.fail(path, f"{raw!r} is not valid ({detail})")
            return _placeholder(kind)

    def _struct(self, raw: Any, kind: type[msgspec.Struct], path: str) -> Any:
        fields = {field.encode_name: field for field in msgspec.structs.fields(kind)}
        if not isinstance(raw, dict):
            self.fail(path, f"{raw!r} is not a table")
            raw = {}
        for key in raw:
            if key not in fields:
                self.problems.append(f"{path}.{key}: unknown key")
        values: dict[str, Any] = {}
        for name, field in fields.items():
            if name in raw:
                values[name] = self.convert(raw[name], field.type, f"{path}.{name}")
            elif field.required:
                self.fail(f"{path}.{name}", "missing (required)")
                values[name] = _placeholder(field.type)
        return kind(**values)


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _placeholder(kind: Any) -> Any:
    origin = typing.get_origin(kind) or kind
    if _is_struct(origin):
        return origin(
            **{f.name: _placeholder(f.type) for f in msgspec.structs.fields(origin) if f.required}
        )
    defaults = {str: "", Secret: Secret(""), int: 0, float: 0.0, bool: False, list: [], dict: {}}
    return defaults.get(origin)


# --- semantic checks -------------------------------------------------------------------

_BRAND_ID = re.compile(r"[a-z0-9-]+")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*(:\d{{1,5}})?")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_PARAM = re.compile(r"[A-Za-z0-9_.\-]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A fallback stream is the brand's own key: printable, no spaces, and inside Tracer's
# namespace only under `tracer:fallback:` (anything else there is Tracer's state).
_STREAM = re.compile(r"[!-~]{1,200}")
_OWN_PREFIX = f"{redis_keys.PREFIX}:"
_FALLBACK_PREFIX = f"{redis_keys.PREFIX}:fallback:"


# Whitespace (every Unicode space, as str.isspace sees it) and control characters.
_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f]")


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host and no whitespace or control chars."""
    if not url.startswith(("http://", "https://")):
        return False
    rest = url.split("://", 1)[1]
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return bool(host) and _UNSAFE_IN_URL.search(url) is None


def webhook_secret_bytes(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (`whsec_` + base64)."""
    body = secret.removeprefix("whsec_")
    return base64.b64decode(body, validate=True)


def _check_brand(brand: Brand, path: str, problems: list[str]) -> None:
    if not _BRAND_ID.fullmatch(brand.id):
        problems.append(f"{path}.id: {brand.id!r} must match [a-z0-9-]+")
    if not brand.name.strip():
        problems.append(f"{path}.name: must not be empty")
    if not brand.hosts:
        problems.append(f"{path}.hosts: at least one tracking host is required")
    for i, host in enumerate(brand.hosts):
        if not _HOSTNAME.fullmatch(host):
            problems.append(f"{path}.hosts[{i}]: {host!r} is not a lower-case host name")
    if not is_http_url(brand.landing_url):
        problems.append(f"{path}.landing_url: {brand.landing_url!r} is not an http(s) URL")
    urls: dict[str, int] = {}
    for i, hook in enumerate(brand.webhooks):
        _check_webhook(hook, f"{path}.webhooks[{i}]", problems)
        if hook.url in urls:
            # One URL is one endpoint (its id, pool, breaker, secret): list it once.
            problems.append(
                f"{path}.webhooks[{i}].url: {hook.url!r} is already "
                f"{path}.webhooks[{urls[hook.url]}]"
            )
        urls.setdefault(hook.url, i)
    for param, template in brand.utm.items():
        if not _PARAM.fullmatch(param):
            problems.append(f"{path}.utm.{param}: not a valid query parameter name")
        unknown = _template_fields(template) - set(UTM_PLACEHOLDERS)
        if unknown:
            problems.append(
                f"{path}.utm.{param}: {template!r} uses unknown placeholder(s) "
                f"{', '.join(sorted(unknown))} (known: {', '.join(UTM_PLACEHOLDERS)})"
            )
    if not _PARAM.fullmatch(brand.click_id_param):
        problems.append(f"{path}.click_id_param: {brand.click_id_param!r} is not a parameter name")
    for source, value in brand.cpc.items():
        if value < 0:
            problems.append(f"{path}.cpc.{source}: {value!r} must be >= 0")
    if brand.link_ttl_days < 0:
        problems.append(f"{path}.link_ttl_days: {brand.link_ttl_days} must be >= 0")
    _check_bot_policy(brand.bot_policy, f"{path}.bot_policy", problems)
    _check_privacy(brand.privacy, f"{path}.privacy", problems)
    _check_page(brand.unsubscribe, f"{path}.unsubscribe", problems)
    for i, key in enumerate(brand.api_keys):
        if not _SHA256.fullmatch(key.sha256):
            # Named but not shown whole: a key pasted here by mistake must not reach a log.
            problems.append(
                f"{path}.api_keys[{i}].sha256: {_glimpse(key.sha256)} must be 64 lower-case "
                "hex digits (the SHA-256 of the key, not the key)"
            )


def _glimpse(value: str) -> str:
    """Enough of a possibly secret value to find it in the file, not enough to use it."""
    return f"'{value[:4]}…' ({len(value)} characters)" if len(value) > 4 else repr(value)


def _template_fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        return {template}


def _check_webhook(hook: Webhook, path: str, problems: list[str]) -> None:
    if not is_http_url(hook.url):
        problems.append(f"{path}.url: {hook.url!r} is not an http(s) URL")
    for name, secret in [("secret", hook.secret)] + [
        (f"previous_secrets[{i}]", s) for i, s in enumerate(hook.previous_secrets)
    ]:
        try:
            key = webhook_secret_bytes(secret)
        except ValueError:
            problems.append(f"{path}.{name}: not a Standard Webhooks secret ('whsec_' + base64)")
            continue
        if not secret.startswith("whsec_") or not 24 <= len(key) <= 64:
            problems.append(
                f"{path}.{name}: must be 'whsec_' followed by 24 to 64 base64-encoded bytes"
            )
    for i, event in enumerate(hook.events):
        if event not in EVENT_TYPES:
            problems.append(
                f"{path}.events[{i}]: {event!r} is not an event type ({', '.join(EVENT_TYPES)})"
            )
    if hook.batch_max_events < 1:
        problems.append(f"{path}.batch_max_events: {hook.batch_max_events} must be >= 1")
    if hook.batch_max_wait_ms < 0:
        problems.append(f"{path}.batch_max_wait_ms: {hook.batch_max_wait_ms} must be >= 0")
    if hook.max_concurrency < 1:
        problems.append(f"{path}.max_concurrency: {hook.max_concurrency} must be >= 1")
    if not 0 < hook.timeout_s <= 120:
        problems.append(f"{path}.timeout_s: {hook.timeout_s} must be in (0, 120] seconds")
    stream = hook.fallback_stream
    if stream is not None and (
        not _STREAM.fullmatch(stream)
        or (stream.startswith(_OWN_PREFIX) and not stream.startswith(_FALLBACK_PREFIX))
        or stream == _FALLBACK_PREFIX
    ):
        problems.append(
            f"{path}.fallback_stream: {stream!r} is not a usable stream name (1 to 200 "
            f"printable characters without spaces; under {_OWN_PREFIX!r} only as "
            f"'{_FALLBACK_PREFIX}<name>')"
        )


def _check_bot_policy(policy: BotPolicy, path: str, problems: list[str]) -> None:
    for i, agent in enumerate(policy.human_agents):
        if agent not in AGENTS:
            problems.append(f"{path}.human_agents[{i}]: {agent!r} is not one of {AGENTS}")
    if policy.min_click_delay_s < 0:
        problems.append(f"{path}.min_click_delay_s: {policy.min_click_delay_s} must be >= 0")
    if not 0 <= policy.cloud_scan_window_s <= 86_400:
        problems.append(
            f"{path}.cloud_scan_window_s: {policy.cloud_scan_window_s} must be in 0..86400"
        )
    for vendor, cidrs in policy.networks.items():
        for i, cidr in enumerate(cidrs):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                problems.append(f"{path}.networks.{vendor}[{i}]: {cidr!r} is not a CIDR")


def _check_privacy(privacy: Privacy, path: str, problems: list[str]) -> None:
    if not 0 <= privacy.ipv4_prefix <= 32:
        problems.append(f"{path}.ipv4_prefix: {privacy.ipv4_prefix} must be in 0..32")
    if not 0 <= privacy.ipv6_prefix <= 128:
        problems.append(f"{path}.ipv6_prefix: {privacy.ipv6_prefix} must be in 0..128")
    if privacy.retention_days < 1:
        problems.append(f"{path}.retention_days: {privacy.retention_days} must be >= 1")


def _check_page(page: UnsubscribePage, path: str, problems: list[str]) -> None:
    for name in ("primary_color", "background_color", "text_color"):
        value = getattr(page, name)
        if not _COLOR.fullmatch(value):
            problems.append(f"{path}.{name}: {value!r} is not a #rrggbb colour")
    if page.logo_url and not is_http_url(page.logo_url):
        problems.append(f"{path}.logo_url: {page.logo_url!r} is not an http(s) URL")
    for list_id in page.lists:
        if not _BRAND_ID.fullmatch(list_id):
            problems.append(f"{path}.lists.{list_id}: list ids must match [a-z0-9-]+")


def _check_unique(brands: list[Brand], problems: list[str]) -> None:
    seen_ids: dict[str, int] = {}
    seen_hosts: dict[str, str] = {}
    seen_streams: dict[str, str] = {}
    for index, brand in enumerate(brands):
        if brand.id in seen_ids:
            problems.append(
                f"brands[{index}].id: {brand.id!r} is already used by brands[{seen_ids[brand.id]}]"
            )
        seen_ids.setdefault(brand.id, index)
        for i, host in enumerate(brand.hosts):
            if host in seen_hosts:
                problems.append(
                    f"brands[{index}].hosts[{i}]: {host!r} already belongs to "
                    f"brand {seen_hosts[host]!r}"
                )
            seen_hosts.setdefault(host, brand.id)
        for i, hook in enumerate(brand.webhooks):
            stream = hook.fallback_stream
            if stream is None:
                continue
            # A stream shared by two brands would hand one brand's events to the other.
            owner = seen_streams.setdefault(stream, brand.id)
            if owner != brand.id:
                problems.append(
                    f"brands[{index}].webhooks[{i}].fallback_stream: {stream!r} already "
                    f"belongs to brand {owner!r}"
                )
