"""`tracer up`: run every role on one machine, supervised (what `just run` starts)."""

from __future__ import annotations

import argparse
import importlib.util
import logging

from cli.commands.edge import worker_count
from cli.supervisor import Role, Supervisor, data_path, tracer_command
from tracer.context import load_context
from tracer.links import LinkBuilder
from tracer.logs import configure_logging
from tracer.observability import init_sentry
from tracer.redis_server import RedisServer
from tracer.settings import load_settings, mask_url

logger = logging.getLogger("tracer.up")


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
    data_dir = settings.data_dir.resolve()
    env = {"TRACER_DATA_DIR": str(data_dir)}
    roles: list[Role] = []
    if settings.redis_url is None:
        redis = RedisServer(data_path(data_dir, "redis"), persistent=True)
        roles.append(Role("redis", redis.command(), ready=redis.ping, infrastructure=True))
        env["REDIS_URL"] = redis.url
    redis_url = env.get("REDIS_URL") or settings.redis_url or ""
    workers = settings.edge_workers if args.edge_workers is None else args.edge_workers
    roles.append(Role("edge", tracer_command("edge", "--workers", str(workers)), env=env))
    # The admin API puts events on the queue too: it stops with the edge, before consumers.
    for name in ("admin", "batcher", "dispatcher"):
        if _available(name):
            roles.append(Role(name, tracer_command(name), env=env))
    for role in roles:
        role.env.update(env)
    _print_banner(context, settings, redis_url, [role.name for role in roles])
    return Supervisor(roles).run()


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
        f"Sample tracked link for {brand.name}:\n  {link}\n"
        f"Try it locally:\n"
        f"  curl -si -H 'Host: {brand.primary_host}' http://127.0.0.1:{edge_port}{path}\n"
        f"Press Ctrl-C to stop.",
        flush=True,
    )
