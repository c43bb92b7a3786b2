"""Process settings, read once from the environment and validated at start-up.

Brand-specific behaviour lives in the brands file (`tracer.brands`); this module holds
what belongs to the deployment: where Redis, the store and the data directory are, the
ports, and the tuning knobs of the pipeline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from tracer.errors import ConfigurationError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "brands.example.toml"


class Secret(str):
    """A string that never shows its value in `repr` (connection URLs carry passwords)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}('**********')"


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    config_path: Path = DEFAULT_CONFIG
    redis_url: str | None = None
    # REDIS_URL names one node of a Redis Cluster (the edge's queue keys are hash-tagged).
    redis_cluster: bool = False
    mongodb_url: str | None = None
    data_dir: Path = Path("var")
    keys: str | None = None
    sentry_dsn: str | None = None
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
    "TRACER_GEOIP_DB": "geoip_db",
}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build `Settings` from environment variables; raise `ConfigurationError` naming the
    variable and its value when one is not valid."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for variable, field in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            parsed = msgspec.convert({field: raw}, Settings, strict=False, dec_hook=_to_path)
        except msgspec.ValidationError as exc:
            reason = str(exc).split(" - at ")[0]
            raise ConfigurationError(f"{variable}: {raw!r} is not valid ({reason})") from None
        values[field] = getattr(parsed, field)
    settings = Settings(**values)
    _check(settings)
    return settings


def _to_path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def _check(settings: Settings) -> None:
    for name in ("edge_port", "admin_port"):
        port = getattr(settings, name)
        if not 0 < port < 65536:
            raise ConfigurationError(f"{name}: {port} is not a TCP port")
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
