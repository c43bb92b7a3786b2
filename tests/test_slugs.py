"""SMS slugs: a keyed permutation (bijective, not enumerable) over blocks leased from one
Redis counter, so concurrent allocators never collide."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import redis.asyncio as aioredis

from tracer.slugs import ALPHABET, SEVEN, SlugAllocator, SlugPermutation, is_slug


def test_the_permutation_is_a_bijection_into_7_character_base62() -> None:
    permutation = SlugPermutation(os.urandom(32))

    slugs = [permutation.slug(n) for n in range(100_000)]

    assert len(set(slugs)) == len(slugs)
    assert all(len(s) == 7 and set(s) <= set(ALPHABET) for s in slugs)


def test_numbers_past_62_to_the_7th_give_8_characters() -> None:
    permutation = SlugPermutation(os.urandom(32))

    assert len(permutation.slug(SEVEN - 1)) == 7
    assert len(permutation.slug(SEVEN)) == 8
    assert is_slug(permutation.slug(SEVEN + 12345))


def test_consecutive_numbers_give_unrelated_slugs() -> None:
    permutation = SlugPermutation(os.urandom(32))
    slugs = [permutation.slug(n) for n in range(2000)]

    shared_prefixes = sum(a[:3] == b[:3] for a, b in itertools.pairwise(slugs))
    first_chars = {s[0] for s in slugs}

    assert shared_prefixes < 5  # 1 in 62³ per pair by chance
    assert len(first_chars) > 55  # spread over (nearly) the whole alphabet


def test_different_keys_give_different_slugs() -> None:
    a, b = SlugPermutation(b"a" * 32), SlugPermutation(b"b" * 32)

    assert [a.slug(n) for n in range(50)] != [b.slug(n) for n in range(50)]


async def test_one_allocator_hands_out_distinct_slugs_across_blocks(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        allocator = SlugAllocator(client, b"k" * 32, block_size=100)
        slugs = [*await allocator.allocate(250), *await allocator.allocate(1)]
        assert len(set(slugs)) == 251
        # One lease covers the request for 250, then a normal block of 100.
        assert int(await client.get("tracer:slugs:counter")) == 350
    finally:
        await client.aclose()


ALLOCATE = textwrap.dedent("""
    import asyncio, sys
    import redis.asyncio as aioredis
    from tracer.slugs import SlugAllocator

    async def main():
        client = aioredis.Redis.from_url(sys.argv[1])
        allocator = SlugAllocator(client, b"k" * 32, block_size=int(sys.argv[3]))
        slugs = []
        for _ in range(int(sys.argv[2]) // 50):
            slugs += await allocator.allocate(50)
        await client.aclose()
        print("\\n".join(slugs))

    asyncio.run(main())
""")


def test_concurrent_allocator_processes_never_collide(redis_url: str) -> None:
    # 1. Four processes allocate 5,000 slugs each, in small blocks, at the same time.
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", ALLOCATE, redis_url, "5000", "97"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120)[0].split() for process in processes]

    # Result: 20,000 slugs, all different, and each process got its own.
    assert [len(out) for out in outputs] == [5000] * 4
    every = [slug for out in outputs for slug in out]
    assert len(set(every)) == 20_000
