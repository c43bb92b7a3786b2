"""Pure parts: back-off, Retry-After, the circuit breaker, options, metrics text."""

from __future__ import annotations

import random

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.backoff import parse_retry_after, retry_delay
from dispatcher.breaker import BreakerState, CircuitBreaker, Permit
from dispatcher.metrics import Metrics
from dispatcher.options import DEFAULT_RETRY_SCHEDULE_S, load_options
from tracer.errors import ConfigurationError


def test_full_jitter_stays_under_each_step_and_ends():
    rng = random.Random(7)
    schedule = (5.0, 300.0, 1800.0)
    for attempts, bound in enumerate(schedule, start=1):
        delays = [retry_delay(schedule, attempts, rng) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # spread over the whole range
    assert retry_delay(schedule, 4, rng) is None


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_probes_once():
    clock = Clock()
    breaker = CircuitBreaker(3, open_s=10, max_open_s=40, probe_timeout_s=5, clock=clock)
    for _ in range(2):
        assert breaker.admit() is Permit.NORMAL
        assert not breaker.record_failure()
    assert breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.admit() is Permit.REFUSED
    clock.now += 10
    assert breaker.admit() is Permit.PROBE
    assert breaker.admit() is Permit.REFUSED  # one probe at a time
    assert breaker.record_failure()  # the probe failed: open twice as long
    assert breaker.open_until == clock.now + 20
    clock.now += 20
    assert breaker.admit() is Permit.PROBE
    assert breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.open_s == 10


def test_breaker_lost_probe_does_not_block_forever():
    clock = Clock()
    breaker = CircuitBreaker(1, open_s=1, max_open_s=1, probe_timeout_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.admit() is Permit.PROBE
    clock.now += 5
    assert breaker.admit() is Permit.PROBE


def test_breaker_adopts_an_open_state_published_elsewhere():
    clock = Clock()
    breaker = CircuitBreaker(5, open_s=1, max_open_s=8, probe_timeout_s=5, clock=clock)
    breaker.adopt(BreakerState.OPEN, clock.now + 4, 4)
    assert breaker.admit() is Permit.REFUSED
    clock.now += 4
    breaker.adopt(BreakerState.CLOSED, 0, 1)
    assert breaker.state is BreakerState.CLOSED


def test_options_from_environment_and_errors():
    options = load_options({"TRACER_WEBHOOK_RETRY_SCHEDULE_S": "1, 2,3"}, burst=True)
    assert options.retry_schedule_s == (1.0, 2.0, 3.0)
    assert options.max_attempts == 4 and options.burst
    assert load_options({}).retry_schedule_s == DEFAULT_RETRY_SCHEDULE_S
    with pytest.raises(ConfigurationError, match="TRACER_BREAKER_OPEN_S"):
        load_options({"TRACER_BREAKER_OPEN_S": "soon"})
    with pytest.raises(ConfigurationError, match="retry_schedule_s"):
        load_options({"TRACER_WEBHOOK_RETRY_SCHEDULE_S": "5,x"})


def test_metrics_text_parses_as_prometheus():
    metrics = Metrics()
    stats = metrics.for_endpoint("acme", "abc123")
    stats.delivered = 3
    stats.failed["http_503"] = 2
    for seconds in (0.004, 0.03, 7.0):
        stats.observe_latency(seconds)
    text = metrics.render([("ready", 0, 5)], [("acme", 1)])
    families = {family.name: family for family in text_string_to_metric_families(text)}
    delivered = families["tracer_webhook_delivered"].samples[0]
    assert delivered.labels == {"brand": "acme", "endpoint": "abc123"}
    assert delivered.value == 3
    latency = {
        (s.name, s.labels.get("le")): s.value
        for s in families["tracer_webhook_latency_seconds"].samples
    }
    assert latency[("tracer_webhook_latency_seconds_bucket", "0.005")] == 1
    assert latency[("tracer_webhook_latency_seconds_bucket", "+Inf")] == 3
    assert latency[("tracer_webhook_latency_seconds_count", None)] == 3
    assert families["tracer_webhook_queue_depth"].samples[0].value == 5


async def test_an_error_detail_names_the_receiver_origin_never_its_path_or_query():
    """A malformed answer makes aiohttp raise an error naming the whole URL; the detail kept
    (logged, listed by `tracer dlq`) keeps its origin only."""
    import asyncio

    import aiohttp
    import yarl

    from dispatcher.deadlines import Deadlines
    from dispatcher.delivery import Disposition, post

    async def answer_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 2OO Okay\r\nX: y\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    deadlines = Deadlines()
    timer = asyncio.create_task(deadlines.run())
    try:
        async with aiohttp.ClientSession() as session:
            url = yarl.URL(f"http://127.0.0.1:{port}/hooks/tracer?token=s3cr3t-t0ken")
            outcome = await post(session, url, b"{}", {}, deadlines.within(5))
    finally:
        timer.cancel()
        server.close()

    assert outcome.disposition is Disposition.RETRY
    assert f"127.0.0.1:{port}" in outcome.detail
    assert "s3cr3t-t0ken" not in outcome.detail and "/hooks/tracer" not in outcome.detail
