"""SMS short-link allocation rate (target ≥ 50,000 slugs/s), against a private redis-server.

    python -m bench.slugs            # 3 rounds of 200,000 slugs
    python -m bench.slugs --quick    # 1 round of 50,000

Rows, measured in the same run:

- `allocate`: `SlugAllocator.allocate(100)` in a loop: one INCRBY per leased block of 1,000
  numbers, then the keyed Feistel permutation and base62 for every slug. This is what a
  sending platform waits for when it asks for short links.
- `permutation only`: the same slugs without Redis, the CPU floor of the scheme.
- `allocate + store`: `ShortLinks.create` for batches of 100 payloads: allocation plus the
  sealed token stored per slug in Redis (one pipelined SET each), i.e. what `POST
  /v1/messages` does for an SMS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis.asyncio as aioredis

from tracer.keyring import new_keyring
from tracer.redis_server import RedisServer
from tracer.slugs import ShortLinks, SlugAllocator, SlugPermutation
from tracer.tokens import CLICK, LinkPayload, TokenCodec

TARGET_PER_S = 50_000


async def _allocate(url: str, key: bytes, total: int) -> float:
    client = aioredis.Redis.from_url(url)
    try:
        allocator = SlugAllocator(client, key, block_size=1000)
        started = time.perf_counter()
        for _ in range(total // 100):
            await allocator.allocate(100)
        return total / (time.perf_counter() - started)
    finally:
        await client.aclose()


def _permute(key: bytes, total: int) -> float:
    permutation = SlugPermutation(key)
    started = time.perf_counter()
    for number in range(total):
        permutation.slug(number)
    return total / (time.perf_counter() - started)


async def _allocate_and_store(url: str, key: bytes, total: int) -> float:
    client = aioredis.Redis.from_url(url)
    codec = TokenCodec(new_keyring())
    payloads = [
        LinkPayload(
            CLICK,
            "shiftpro",
            f"sms-{n}",
            1_700_000_000,
            "https://shiftpro.example/s/1",
            channel="sms",
        )
        for n in range(100)
    ]
    try:
        links = ShortLinks(client, SlugAllocator(client, key, block_size=1000), codec)
        started = time.perf_counter()
        for _ in range(total // 100):
            await links.create(payloads)
        return total / (time.perf_counter() - started)
    finally:
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slugs", description=__doc__)
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    args = parser.parse_args(argv)
    rounds, total = (1, 50_000) if args.quick else (3, 200_000)
    key = os.urandom(32)
    rates: dict[str, list[float]] = {"allocate": [], "permutation only": [], "allocate + store": []}
    with (
        tempfile.TemporaryDirectory(prefix="tracer-bench-slugs-") as tmp,
        RedisServer(Path(tmp), persistent=False) as server,
    ):
        for _ in range(rounds):
            rates["allocate"].append(asyncio.run(_allocate(server.url, key, total)))
            rates["permutation only"].append(_permute(key, total))
            rates["allocate + store"].append(
                asyncio.run(_allocate_and_store(server.url, key, total // 4))
            )
    print(f"\nSMS slug allocation ({rounds} round(s), median; target ≥ {TARGET_PER_S:,}/s)")
    print(f"{'row':<20} {'slugs/s':>12}  {'µs/slug':>8}")
    for row, values in rates.items():
        rate = statistics.median(values)
        print(f"{row:<20} {rate:>12,.0f}  {1e6 / rate:>8.2f}")
    verdict = "PASS" if statistics.median(rates["allocate"]) >= TARGET_PER_S else "FAIL"
    print(f"allocation ≥ {TARGET_PER_S:,} slugs/s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
