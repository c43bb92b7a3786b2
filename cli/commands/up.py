"""`tracer up`: run every role on one machine, supervised (what `just run` starts)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import time
from pathlib import Path

from cli.commands.edge import worker_count
from cli.supervisor import Role, Supervisor, data_path, tracer_command
from tracer.context import load_context
from tracer.geo import check_geoip
from tracer.instance import InstanceFacts, remove_facts, write_facts
from tracer.keyring import keyring_location
from tracer.links import LinkBuilder
from tracer.logs import configure_logging
from tracer.observability import init_sentry
from tracer.redis_server import RedisServer, free_port
from tracer.settings import Settings, load_settings, mask_url

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("up", help="run every role, supervised (Ctrl-C stops all)")
    parser.add_argument(
        "--workers",
        "--edge-workers",
        dest="edge_workers",
        type=worker_count,
        help="edge worker processes (default: TRACER_EDGE_WORKERS or 1)",
    )
    parser.set_defaults(func=run)


def _available(role: str) -> bool:
    return importlib.util.find_spec(f"cli.commands.{role}") is not None


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level, role="supervisor")
    init_sentry("supervisor", settings)
    context = load_context(settings)  # fail now, once, on a bad configuration
    check_geoip(settings.geoip_db)
    data_dir = settings.data_dir.resolve()
    env = {"TRACER_DATA_DIR": str(data_dir)}
    roles: list[Role] = []
    if settings.redis_url is None:
        # Synced on every write: a killed redis-server must not lose what it acknowledged
        # (an edge forgets a batch once Redis has acknowledged it).
        redis = RedisServer(data_path(data_dir, "redis"), persistent=True, appendfsync="always")
        roles.append(Role("redis", redis.command(), ready=redis.ping, infrastructure=True))
        env["REDIS_URL"] = redis.url
    redis_url = env.get("REDIS_URL") or settings.redis_url or ""
    workers = settings.edge_workers if args.edge_workers is None else args.edge_workers
    edge_env = {**env, **_edge_metrics_env()}
    roles.append(Role("edge", tracer_command("edge", "--workers", str(workers)), env=edge_env))
    # The admin API puts events on the queue too: it stops with the edge, before consumers.
    for name in ("admin", "batcher", "dispatcher"):
        if _available(name):
            roles.append(Role(name, tracer_command(name, *_metrics_flags(name)), env=env))
    for role in roles:
        role.env.update(env)
    facts = _facts(settings, data_dir, redis_url)
    write_facts(data_dir, facts)
    _print_banner(context, settings, redis_url, [role.name for role in roles])
    try:
        return Supervisor(roles).run()
    finally:
        remove_facts(data_dir, facts.pid)


def _edge_metrics_env() -> dict[str, str]:
    """The edge's loopback metrics port: a free one, unless one is configured (two
    instances on one host must not share one: its workers listen with SO_REUSEPORT)."""
    if os.environ.get("TRACER_EDGE_METRICS_PORT"):
        return {}
    return {"TRACER_EDGE_METRICS_PORT": str(free_port())}


def _metrics_flags(role: str) -> list[str]:
    """Each consumer serves /metrics on a free port, unless one is configured: two
    instances on one host never collide, and the dashboard finds each role's port where
    the role registered it (`tracer.instance`)."""
    if role not in ("batcher", "dispatcher"):
        return []
    if os.environ.get(f"TRACER_{role.upper()}_METRICS_PORT"):
        return []
    return ["--metrics-port", "auto"]


def _facts(settings: Settings, data_dir: Path, redis_url: str) -> InstanceFacts:
    """What other commands on this machine need to find this instance."""
    ring = keyring_location(settings.keys, settings.dev_keyring_path)
    return InstanceFacts(
        pid=os.getpid(),
        started_at=time.time(),
        data_dir=str(data_dir),
        config_path=str(Path(settings.config_path).resolve()),
        keys=str(ring.resolve()) if ring is not None else None,
        keys_inline=ring is None,
        redis_url=str(redis_url) if redis_url else None,
        mongodb_url=str(settings.mongodb_url) if settings.mongodb_url else None,
        edge_url=f"http://{_local(settings.edge_host)}:{settings.edge_port}",
        admin_url=f"http://{_local(settings.admin_host)}:{settings.admin_port}",
    )


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def _mode(settings: Settings) -> str:
    if settings.dev_mode:
        return "development (TRACER_DEV_MODE=1: the example brands' published API keys work)"
    return "production (published demo API keys are refused)"


def _print_banner(context, settings, redis_url: str, roles: list[str]) -> None:
    edge_port = settings.edge_port
    brand = context.brands.all[0]
    builder = LinkBuilder(context.brands, context.keyring)
    link = builder.click(
        brand.id,
        "welcome-1",
        brand.landing_url + "jobs/hello-tracer",
        recipient="someone@example.com",
        campaign="welcome",
        job_source="direct",
    )
    path = link.split(brand.primary_host, 1)[1]
    store = "MongoDB" if context.settings.mongodb_url else f"SQLite {context.settings.sqlite_path}"
    print(
        f"Tracer is starting: {', '.join(roles)}\n"
        f"  edge      http://127.0.0.1:{edge_port}  (brands: {len(context.brands)})\n"
        f"  redis     {mask_url(redis_url)}\n"
        f"  store     {store}\n"
        f"  admin     http://{settings.admin_host}:{settings.admin_port}/  (dashboard; API at /v1, "
        f"docs at /openapi.json)\n"
        f"            dashboard token: TRACER_ADMIN_TOKEN, or the file "
        f"{context.settings.data_dir.resolve() / 'admin-token'}\n"
        f"  data dir  {context.settings.data_dir.resolve()}\n"
        f"  mode      {_mode(settings)}\n"
        f"Sample tracked link for {brand.name}:\n  {link}\n"
        f"Try it locally:\n"
        f"  curl -si -H 'Host: {brand.primary_host}' http://127.0.0.1:{edge_port}{path}\n"
        f"Press Ctrl-C to stop.",
        flush=True,
    )
