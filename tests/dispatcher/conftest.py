"""Fixtures of the dispatcher tests: receivers that clean up, and a dispatcher factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from dispatcher.service import Dispatcher
from tests.dispatcher.helpers import SHARDS, Receiver, fast_options
from tracer.brands import Brands


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Receiver]]:
    """`receivers(secret, plan=None, port=None)` makes a receiver; all stop at teardown."""
    made: list[Receiver] = []

    def make(secret: str, plan: Any = None, port: int | None = None) -> Receiver:
        receiver = Receiver(secret, plan, port)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        await receiver.stop()


@pytest.fixture
def make_dispatcher(redis_url: str) -> Callable[..., Dispatcher]:
    """`make_dispatcher(brands, **options)`: a dispatcher on the test Redis, burst mode and
    a fast retry schedule unless the options say otherwise."""

    def make(brands: Brands, consumer: str | None = None, **options: Any) -> Dispatcher:
        return Dispatcher(
            brands, redis_url, shards=SHARDS, options=fast_options(**options), consumer=consumer
        )

    return make
