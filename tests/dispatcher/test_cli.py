"""`tracer dispatcher` as a process (kill -9 included) and `tracer dlq` end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from cli.main import main
from dispatcher.queue import shard_for
from tests.dispatcher.helpers import (
    SHARDS,
    Answer,
    brands_toml,
    jobs_for,
    new_secret,
    push,
    queued,
    until,
)
from tracer import redis_keys
from tracer.brands import parse_brands
from tracer.webhooks import endpoint_id


def _environment(config: Path, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "TRACER_CONFIG": str(config),
        "REDIS_URL": redis_url,
        "TRACER_QUEUE_SHARDS": str(SHARDS),
        "TRACER_DISPATCHER_HEARTBEAT_TTL_S": "1",
        "TRACER_WEBHOOK_RETRY_SCHEDULE_S": "0.1,0.2,0.4",
        "TRACER_DISPATCHER_METRICS_PORT": "0",
        "TRACER_LOG_FORMAT": "text",
    }


async def _start_dispatcher(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "dispatcher", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip


def _held(redis_client) -> int:
    """Jobs sitting in any dispatcher's processing list."""
    return sum(
        redis_client.llen(key)
        for shard in range(SHARDS)
        for key in redis_client.keys(redis_keys.webhook_processing(shard, "*"))
    )


async def test_kill_9_mid_delivery_loses_nothing(redis_url, redis_client, receivers, tmp_path):
    """1. A dispatcher process is delivering 300 events (slowly: 4 at a time).
    2. It is killed with SIGKILL mid-delivery, holding jobs in its processing lists.
    3. Another dispatcher starts. Result: it adopts the dead one's jobs once its heartbeat
    expires; every event arrives; duplicates carry the same webhook-id; SIGTERM exits 0."""
    secret = new_secret()
    receiver = await receivers(secret, lambda webhook_id, nth: Answer(delay_s=0.02)).start()
    toml = brands_toml(
        {"url": receiver.url, "secret": secret, "allow_private": True, "max_concurrency": 4}
    )
    config = tmp_path / "brands.toml"
    config.write_text(toml)
    jobs = jobs_for(parse_brands(toml), 300)
    push(redis_client, jobs)
    env = _environment(config, redis_url)
    log = tmp_path / "dispatcher.log"

    first = await _start_dispatcher(env, log)
    await until(lambda: len(receiver.delivered) >= 40, timeout_s=30, what="first deliveries")
    first.kill()
    assert await first.wait() == -signal.SIGKILL
    assert _held(redis_client) > 0

    second = await _start_dispatcher(env, log)
    every_id = {job.event.id for job in jobs}
    await until(lambda: receiver.delivered_event_ids() == every_id, timeout_s=30, what="all")
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 20) == 0

    assert receiver.rejected == []
    assert all(seen.payload["id"] == seen.webhook_id for seen in receiver.requests)
    assert queued(redis_client) == 0
    assert _held(redis_client) == 0
    text = log.read_text()
    assert "(heartbeat expired)" in text
    assert "Shutdown ◆" in text


async def test_dlq_list_and_replay_through_the_cli(
    redis_url, redis_client, receivers, make_dispatcher, tmp_path, monkeypatch, capsys
):
    secret = new_secret()
    answers = {"status": 400}
    receiver = await receivers(secret, lambda webhook_id, nth: Answer(answers["status"])).start()
    toml = brands_toml({"url": receiver.url, "secret": secret, "allow_private": True})
    config = tmp_path / "brands.toml"
    config.write_text(toml)
    monkeypatch.setenv("TRACER_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TRACER_QUEUE_SHARDS", str(SHARDS))
    brands = parse_brands(toml)
    jobs = jobs_for(brands, 12)
    push(redis_client, jobs)
    await asyncio.wait_for(make_dispatcher(brands).run(), 30)
    assert redis_client.llen(redis_keys.webhook_dlq("acme")) == 12
    capsys.readouterr()

    assert main(["dlq", "list", "--brand", "acme"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert {row[3] for row in rows} == {job.event.id for job in jobs}
    assert {(row[5], row[6]) for row in rows} == {("1", "http_400")}

    assert main(["dlq", "list", "--since", "1h", "--json"]) == 0
    letters = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(letters) == 12
    assert letters[0]["event"]["campaign"] == "spring-hiring"
    assert letters[0]["last_error"].startswith("HTTP 400")

    assert main(["dlq", "list", "--since", "2999-01-01T00:00:00Z"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["dlq", "replay", "--since", "2999-01-01"]) == 0
    assert "nothing to replay" in capsys.readouterr().err

    answers["status"] = 200
    assert main(["dlq", "replay", "--brand", "acme"]) == 0
    captured = capsys.readouterr()
    assert "replay acme [" in captured.err and "12/12" in captured.err
    assert captured.out.strip() == "replayed 12 dead letter(s)"
    assert redis_client.llen(redis_keys.webhook_dlq("acme")) == 0
    assert queued(redis_client) == 12

    await asyncio.wait_for(make_dispatcher(brands).run(), 30)
    assert receiver.delivered_event_ids() == {job.event.id for job in jobs}


async def test_disabled_endpoint_listed_and_enabled_through_the_cli(
    redis_url, redis_client, receivers, make_dispatcher, tmp_path, monkeypatch, capsys
):
    secret = new_secret()
    receiver = await receivers(secret, lambda webhook_id, nth: Answer(410)).start()
    toml = brands_toml(
        {"url": receiver.url + "?token=abc", "secret": secret, "allow_private": True}
    )
    config = tmp_path / "brands.toml"
    config.write_text(toml)
    monkeypatch.setenv("TRACER_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", redis_url)
    brands = parse_brands(toml)
    hook_id = endpoint_id("acme", receiver.url + "?token=abc")
    push(redis_client, jobs_for(brands, 1))
    await asyncio.wait_for(make_dispatcher(brands).run(), 30)
    capsys.readouterr()

    assert main(["dlq", "endpoints"]) == 0
    out = capsys.readouterr().out
    assert f"{hook_id}\tacme\t{receiver.url}\tdisabled (HTTP 410)" in out
    assert "token=abc" not in out
    assert main(["dlq", "enable", hook_id]) == 0
    assert redis_client.hget(redis_keys.endpoint_state(hook_id), "disabled") == b"0"


def test_dispatcher_needs_redis(tmp_path, monkeypatch, capsys):
    config = tmp_path / "brands.toml"
    config.write_text(brands_toml())
    monkeypatch.setenv("TRACER_CONFIG", str(config))
    assert main(["dispatcher", "--burst"]) == 1
    assert "REDIS_URL" in capsys.readouterr().err


async def test_dlq_replay_follows_a_changed_webhook_url_when_told(
    redis_url, redis_client, receivers, make_dispatcher, tmp_path, monkeypatch, capsys
):
    """Dead letters of a URL the brand has since replaced stay put until `--to` names the
    successor (a brand's other endpoints, which may have had the events all along, get
    nothing); letters of an event type the successor does not take stay listed."""
    secret = new_secret()
    old = await receivers(secret, lambda webhook_id, nth: Answer(400)).start()
    new = await receivers(secret, lambda webhook_id, nth: Answer(200)).start()
    other = await receivers(secret, lambda webhook_id, nth: Answer(200)).start()
    hook = {"secret": secret, "allow_private": True}
    before = brands_toml({"url": old.url, **hook})
    brands = parse_brands(before)
    clicks, opens = jobs_for(brands, 5), jobs_for(brands, 3, event_type="open")
    push(redis_client, clicks + opens)
    await asyncio.wait_for(make_dispatcher(brands).run(), 30)
    assert redis_client.llen(redis_keys.webhook_dlq("acme")) == 8

    after = brands_toml({"url": other.url, **hook}, {"url": new.url, **hook, "events": ["click"]})
    config = tmp_path / "brands.toml"
    config.write_text(after)
    monkeypatch.setenv("TRACER_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TRACER_QUEUE_SHARDS", str(SHARDS))
    capsys.readouterr()

    assert main(["dlq", "replay", "--brand", "acme"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "replayed 0 dead letter(s)"
    assert "kept 8 dead letter(s)" in captured.err and "--to URL" in captured.err

    assert main(["dlq", "replay", "--brand", "acme", "--to", "http://elsewhere.example/"]) == 1
    assert "--to: 'http://elsewhere.example/' is not a webhook URL" in capsys.readouterr().err

    assert main(["dlq", "replay", "--brand", "acme", "--to", new.url]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "replayed 5 dead letter(s)"
    assert "kept 3 dead letter(s)" in captured.err
    assert redis_client.llen(redis_keys.webhook_dlq("acme")) == 3
    successor = endpoint_id("acme", new.url)
    pending = redis_keys.webhook_pending(shard_for(successor, SHARDS))
    assert redis_client.hget(pending, successor) == b"5"  # its queue depth

    await asyncio.wait_for(make_dispatcher(parse_brands(after)).run(), 30)
    assert redis_client.hget(pending, successor) is None
    assert new.delivered_event_ids() == {job.event.id for job in clicks}
    assert all(seen.payload["id"] == seen.webhook_id for seen in new.requests)
    assert other.requests == []
