"""Building blocks of the dispatcher tests: brands files, jobs, and webhook receivers that
verify every request with the `standardwebhooks` package (not with our own code)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis
import standardwebhooks
from aiohttp import web

from dispatcher.options import DispatcherOptions
from dispatcher.queue import shard_for
from tracer import redis_keys
from tracer.brands import Brands, parse_brands
from tracer.events import Event, EventIds
from tracer.redis_server import free_port
from tracer.webhooks import WebhookJob, encode_job, endpoint_id, subscribers

SHARDS = 4
BRAND = "acme"
_ids = EventIds()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def fast_options(**overrides: Any) -> DispatcherOptions:
    """Options for tests: a fast retry schedule, short heartbeats, no metrics server."""
    values: dict[str, Any] = {
        "retry_schedule_s": (0.05, 0.1, 0.2),
        "shutdown_grace_period_s": 2.0,
        "heartbeat_ttl_s": 1.0,
        "breaker_failure_threshold": 1000,
        "breaker_open_s": 0.3,
        "breaker_max_open_s": 1.0,
        "metrics_port": 0,
        "burst": True,
    }
    values.update(overrides)
    return DispatcherOptions(**values)


def brands_toml(*hooks: dict[str, Any], brand: str = BRAND) -> str:
    """A brands file with one brand and the given webhook tables."""
    lines = [
        "[[brands]]",
        f'id = "{brand}"',
        'name = "Acme Jobs"',
        f'hosts = ["t.{brand}.example"]',
        f'landing_url = "https://{brand}.example/"',
    ]
    for hook in hooks:
        lines.append("[[brands.webhooks]]")
        lines += [f"{key} = {_toml(value)}" for key, value in hook.items()]
    return "\n".join(lines) + "\n"


def make_brands(*hooks: dict[str, Any]) -> Brands:
    return parse_brands(brands_toml(*hooks))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def make_event(event_type: str = "click", brand: str = BRAND, **fields: Any) -> Event:
    values: dict[str, Any] = {
        "id": _ids.next(),
        "type": event_type,
        "ts": time.time(),
        "brand": brand,
        "message_id": "m-1",
        "campaign": "spring-hiring",
        "job_source": "indeed",
        "recipient": "rh_" + os.urandom(16).hex(),
        "url": "https://acme.example/jobs/1",
    }
    values.update(fields)
    return Event(**values)


def jobs_for(brands: Brands, count: int, event_type: str = "click") -> list[WebhookJob]:
    """One job per (event, subscribed endpoint), as the batcher queues them."""
    brand = brands.get(BRAND)
    jobs = []
    for _ in range(count):
        event = make_event(event_type)
        for hook in subscribers(brand, event):
            jobs.append(
                WebhookJob(
                    event=event,
                    brand=brand.id,
                    endpoint=endpoint_id(brand.id, hook.url),
                    enqueued=time.time(),
                )
            )
    return jobs


def push(client: redis.Redis, jobs: list[WebhookJob]) -> None:
    with client.pipeline(transaction=False) as pipe:
        for job in jobs:
            shard = shard_for(job.endpoint, SHARDS)
            pipe.rpush(redis_keys.webhook_shard(shard), encode_job(job))
        pipe.execute()


def queued(client: redis.Redis) -> int:
    return sum(client.llen(redis_keys.webhook_shard(shard)) for shard in range(SHARDS))


async def until(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or condition}")
        await asyncio.sleep(0.02)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    """A request that passed verification."""

    webhook_id: str
    payload: Any
    status: int
    at: float
    content_type: str = ""


# (webhook-id, how many times this id was seen including this one) -> the answer.
Plan = Callable[[str, int], Answer | Awaitable[Answer]]


class Receiver:
    """An aiohttp webhook receiver on 127.0.0.1 that verifies each request with the
    `standardwebhooks` package and answers per `plan` (default: 200)."""

    def __init__(self, secret: str, plan: Plan | None = None, port: int | None = None) -> None:
        self.verifier = standardwebhooks.Webhook(secret)
        self.plan = plan or (lambda webhook_id, nth: Answer())
        self.port = port or free_port()
        self.requests: list[Seen] = []
        self.rejected: list[str] = []
        self.counts: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def delivered(self) -> list[Seen]:
        return [seen for seen in self.requests if 200 <= seen.status < 300]

    def delivered_event_ids(self) -> set[str]:
        ids = set()
        for seen in self.delivered:
            items = seen.payload if isinstance(seen.payload, list) else [seen.payload]
            ids.update(item["id"] for item in items)
        return ids

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = self.verifier.verify(body, dict(request.headers))
        except standardwebhooks.webhooks.WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            return web.Response(status=401, text="bad signature")
        webhook_id = request.headers["webhook-id"]
        self.counts[webhook_id] += 1
        answer = self.plan(webhook_id, self.counts[webhook_id])
        if asyncio.iscoroutine(answer):
            answer = await answer
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        seen = Seen(webhook_id, payload, answer.status, time.monotonic(), request.content_type)
        self.requests.append(seen)
        return web.Response(status=answer.status, headers=answer.headers)
