"""Process settings, read once from the environment and validated at start-up.

Brand-specific behaviour lives in the brands file (`tracer.brands`); this module holds
what belongs to the deployment: where Redis, the store and the data directory are, the
ports, and the tuning knobs of the pipeline.

`read_environment` is the one loader of `TRACER_*` variables: it builds `Settings` here
and each role's own typed settings (`batcher.config`, `dispatcher.options`, the admin
dashboard's options), each struct holding its defaults in one place.

Connection URLs, the key ring and the Sentry DSN are `Secret`s: their `repr` (so a
settings object logged or shown in a traceback) never shows them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from tracer.errors import ConfigurationError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "brands.example.toml"


class Secret(str):
    """A string that never shows its value in `repr` (connection URLs carry passwords).
    `str(secret)` and using it as a string give the value, on purpose only."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}('**********')"


Parser = Callable[[str, str], Any]
"""`(raw text, variable name) -> value`, raising `ConfigurationError` on a bad value."""


def read_environment(
    struct: type[msgspec.Struct],
    variables: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
    *,
    parsers: Mapping[str, Parser] | None = None,
    secrets: Iterable[str] = (),
) -> dict[str, Any]:
    """The fields of `struct` that `environ` sets, converted: `variables` maps each
    environment variable to its field; a field in `parsers` is converted by its parser,
    the others by msgspec (lax: "8", "true", "0.5" from text). Fields named in `secrets`
    become `Secret`s. Unset and empty variables are left out (the struct's defaults
    apply). Raises `ConfigurationError` naming the variable and its value."""
    environ = os.environ if environ is None else environ
    parsers = parsers or {}
    secret_fields = set(secrets)
    values: dict[str, Any] = {}
    for variable, field in variables.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        if field in parsers:
            value = parsers[field](raw, variable)
        else:
            try:
                parsed = msgspec.convert({field: raw}, struct, strict=False, dec_hook=_to_path)
            except msgspec.ValidationError as exc:
                reason = str(exc).split(" - at ")[0]
                shown = "**********" if field in secret_fields else repr(raw)
                raise ConfigurationError(f"{variable}: {shown} is not valid ({reason})") from None
            value = getattr(parsed, field)
        values[field] = Secret(value) if field in secret_fields and value is not None else value
    return values


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    config_path: Path = DEFAULT_CONFIG
    redis_url: Secret | None = None
    # REDIS_URL names one node of a Redis Cluster (the edge's queue keys are hash-tagged).
    redis_cluster: bool = False
    mongodb_url: Secret | None = None
    data_dir: Path = Path("var")
    # A key ring file's path, or the ring itself (JSON).
    keys: Secret | None = None
    sentry_dsn: Secret | None = None
    edge_host: str = "0.0.0.0"
    edge_port: int = 8080
    # granian worker processes of `tracer edge` (and of the edge `tracer up` starts).
    edge_workers: int = 1
    admin_host: str = "127.0.0.1"
    admin_port: int = 8081
    # Events are flushed to Redis when this many are buffered, or after this delay.
    flush_max_events: int = 512
    flush_interval_s: float = 0.002
    # Number of Redis list keys the event queue is spread over (one hash tag each).
    queue_shards: int = 8
    redis_timeout_s: float = 0.5
    # Requests from these networks may set X-Forwarded-For (comma-separated CIDRs).
    trusted_proxies: str = "127.0.0.1/32,::1/128"
    log_level: str = "INFO"
    # The edge's /metrics: on its own port, loopback only unless an operator says otherwise
    # (it names every brand and its traffic); 0 serves it nowhere.
    edge_metrics_host: str = "127.0.0.1"
    edge_metrics_port: int = 9103
    # Rewriting one message (POST /v1/messages with html) may take this long; then 413.
    rewrite_budget_s: float = 2.0
    # Development mode: the example brands' published demo API keys are accepted.
    dev_mode: bool = False
    # A MaxMind-format country or city database: events get the client's country.
    geoip_db: Path | None = None

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def metrics_dir(self) -> Path:
        return self.data_dir / "metrics"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tracer.sqlite3"

    @property
    def dev_keyring_path(self) -> Path:
        return self.data_dir / "keyring.json"


# Environment variable -> settings field. The first block is the public contract.
ENVIRONMENT = {
    "TRACER_CONFIG": "config_path",
    "REDIS_URL": "redis_url",
    "TRACER_REDIS_CLUSTER": "redis_cluster",
    "MONGODB_URL": "mongodb_url",
    "TRACER_DATA_DIR": "data_dir",
    "TRACER_KEYS": "keys",
    "SENTRY_DSN": "sentry_dsn",
    "TRACER_EDGE_PORT": "edge_port",
    "TRACER_ADMIN_PORT": "admin_port",
    "TRACER_EDGE_HOST": "edge_host",
    "TRACER_EDGE_WORKERS": "edge_workers",
    "TRACER_ADMIN_HOST": "admin_host",
    "TRACER_FLUSH_MAX_EVENTS": "flush_max_events",
    "TRACER_FLUSH_INTERVAL_S": "flush_interval_s",
    "TRACER_QUEUE_SHARDS": "queue_shards",
    "TRACER_REDIS_TIMEOUT_S": "redis_timeout_s",
    "TRACER_TRUSTED_PROXIES": "trusted_proxies",
    "TRACER_LOG_LEVEL": "log_level",
    "TRACER_EDGE_METRICS_HOST": "edge_metrics_host",
    "TRACER_EDGE_METRICS_PORT": "edge_metrics_port",
    "TRACER_REWRITE_BUDGET_S": "rewrite_budget_s",
    "TRACER_DEV_MODE": "dev_mode",
    "TRACER_GEOIP_DB": "geoip_db",
}


# Fields whose value is a secret (see `Secret`).
SECRET_FIELDS = ("redis_url", "mongodb_url", "keys", "sentry_dsn")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from environment variables; raise `ConfigurationError` naming the
    variable and its value when one is not valid."""
    values = read_environment(Settings, ENVIRONMENT, environ, secrets=SECRET_FIELDS)
    settings = Settings(**values)
    _check(settings)
    return settings


def _to_path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    if kind is Secret and isinstance(value, str):
        return Secret(value)
    raise NotImplementedError


def _check(settings: Settings) -> None:
    for name in ("edge_port", "admin_port"):
        port = getattr(settings, name)
        if not 0 < port < 65536:
            raise ConfigurationError(f"{name}: {port} is not a TCP port")
    if not 0 <= settings.edge_metrics_port < 65536:
        raise ConfigurationError(
            f"edge_metrics_port: {settings.edge_metrics_port} is not a TCP port"
        )
    if settings.edge_metrics_port in (settings.edge_port, settings.admin_port):
        raise ConfigurationError(
            f"edge_metrics_port: {settings.edge_metrics_port} must differ from the edge and "
            "admin ports"
        )
    if not 0 < settings.rewrite_budget_s <= 600:
        raise ConfigurationError(
            f"rewrite_budget_s: {settings.rewrite_budget_s} must be in (0, 600] seconds"
        )
    if settings.edge_workers < 1:
        raise ConfigurationError(f"edge_workers: {settings.edge_workers} must be >= 1")
    if settings.edge_port == settings.admin_port:
        raise ConfigurationError(
            f"admin_port: {settings.admin_port} must differ from edge_port "
            "(the admin API is never served on the public edge)"
        )
    if settings.flush_max_events < 1:
        raise ConfigurationError(f"flush_max_events: {settings.flush_max_events} must be >= 1")
    if not 0 < settings.flush_interval_s <= 1:
        raise ConfigurationError(
            f"flush_interval_s: {settings.flush_interval_s} must be in (0, 1] seconds"
        )
    if not 1 <= settings.queue_shards <= 1024:
        raise ConfigurationError(f"queue_shards: {settings.queue_shards} must be in 1..1024")
    for url_field in ("redis_url",):
        url = getattr(settings, url_field)
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(f"{url_field}: {mask_url(url)!r} is not a redis:// URL")
    if settings.geoip_db is not None and not settings.geoip_db.is_file():
        reason = "is not a file" if settings.geoip_db.exists() else "does not exist"
        raise ConfigurationError(
            f"TRACER_GEOIP_DB: {settings.geoip_db} {reason} (a MaxMind-format .mmdb country "
            "or city database; unset it to record no countries)"
        )
    if settings.mongodb_url and not settings.mongodb_url.startswith(
        ("mongodb://", "mongodb+srv://")
    ):
        raise ConfigurationError(
            f"mongodb_url: {mask_url(settings.mongodb_url)!r} is not a mongodb:// URL"
        )


def mask_url(url: str) -> str:
    """Hide the password of `scheme://user:password@host` for logs and errors."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"
