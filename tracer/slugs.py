"""SMS short links: `https://{host}/s/{slug}` with 7 or 8 base62 characters.

Slugs come from one atomic Redis counter, leased in blocks per process (so no two
processes or machines ever hand out the same number), and pass through a keyed
permutation, so that consecutive numbers give unrelated slugs: nobody can walk the slug
space from their own link. Numbers below 62⁷ give 7 characters, later ones 8; the two
ranges cannot collide because their lengths differ.

The permutation is a 4-round Feistel network keyed from the key ring's slug key, with
cycle-walking to stay inside the domain [0, 62ⁿ).
"""

from __future__ import annotations

import asyncio
import hashlib

import redis.asyncio as aioredis

from tracer import redis_keys
from tracer.errors import TracerError
from tracer.tokens import LinkPayload, TokenCodec

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {char: index for index, char in enumerate(ALPHABET)}
SEVEN = 62**7
EIGHT = 62**8
ROUNDS = 4


class SlugSpaceExhausted(TracerError):
    pass


class SlugPermutation:
    """A keyed bijection of [0, 62⁷) and of [0, 62⁸), rendered as base62 text."""

    def __init__(self, key: bytes) -> None:
        round_key = hashlib.sha256(b"slug-permutation:" + key).digest()
        # A keyed BLAKE2b state, copied per round: cheaper than re-keying every call.
        self._keyed = hashlib.blake2b(key=round_key, digest_size=4)

    def _round(self, index: int, half: int, half_bits: int) -> int:
        state = self._keyed.copy()
        state.update(half.to_bytes(4, "big") + bytes((index, half_bits)))
        return int.from_bytes(state.digest(), "big") & ((1 << half_bits) - 1)

    def _feistel(self, value: int, half_bits: int) -> int:
        mask = (1 << half_bits) - 1
        left, right = value >> half_bits, value & mask
        for index in range(ROUNDS):
            left, right = right, left ^ self._round(index, right, half_bits)
        return (left << half_bits) | right

    def _permute(self, value: int, domain: int, half_bits: int) -> int:
        # Cycle-walking: a permutation of [0, 2^2h) restricted to [0, domain) stays one.
        value = self._feistel(value, half_bits)
        while value >= domain:
            value = self._feistel(value, half_bits)
        return value

    def slug(self, number: int) -> str:
        if number < SEVEN:
            return _base62(self._permute(number, SEVEN, 21), 7)
        if number - SEVEN < EIGHT:
            return _base62(self._permute(number - SEVEN, EIGHT, 24), 8)
        raise SlugSpaceExhausted("every 7- and 8-character slug has been issued")


# Every pair of base62 digits, so a 7- or 8-character slug takes 4 divisions, not 8.
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]


def _base62(value: int, width: int) -> str:
    text = ""
    for _ in range(width // 2):
        value, pair = divmod(value, 3844)
        text = _PAIRS[pair] + text
    if width % 2:
        text = ALPHABET[value % 62] + text
    return text


def is_slug(text: str) -> bool:
    return len(text) in (7, 8) and all(char in _INDEX for char in text)


class SlugAllocator:
    """Hands out slugs from blocks of `block_size` numbers leased with one INCRBY."""

    def __init__(self, client: aioredis.Redis, key: bytes, block_size: int = 1000) -> None:
        self.client = client
        self.permutation = SlugPermutation(key)
        self.block_size = block_size
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    async def allocate(self, count: int = 1) -> list[str]:
        numbers: list[int] = []
        async with self._lock:
            while len(numbers) < count:
                if self._next >= self._end:
                    await self._lease(max(self.block_size, count - len(numbers)))
                take = min(count - len(numbers), self._end - self._next)
                numbers.extend(range(self._next, self._next + take))
                self._next += take
        return [self.permutation.slug(number) for number in numbers]

    async def _lease(self, size: int) -> None:
        end = int(await self.client.incrby(redis_keys.SLUG_COUNTER, size))
        # The counter starts at 0, so the first block is [0, size).
        self._next, self._end = end - size, end


class ShortLinks:
    """Creates SMS short links: a slug per payload, stored in Redis as the sealed token
    (so the edge opens it exactly like a `/c/` token: authenticated, brand-checked)."""

    def __init__(self, client: aioredis.Redis, allocator: SlugAllocator, codec: TokenCodec) -> None:
        self.client = client
        self.allocator = allocator
        self.codec = codec

    async def create(self, payloads: list[LinkPayload], ttl_s: int = 0) -> list[str]:
        slugs = await self.allocator.allocate(len(payloads))
        async with self.client.pipeline(transaction=False) as pipe:
            for slug, payload in zip(slugs, payloads, strict=True):
                pipe.set(redis_keys.slug(slug), self.codec.seal(payload), ex=ttl_s or None)
            await pipe.execute()
        return slugs


async def resolve(client: aioredis.Redis, slug: str) -> str | None:
    """The token stored behind `slug`, or None."""
    token = await client.get(redis_keys.slug(slug))
    if token is None:
        return None
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:  # not something ShortLinks wrote: no link
        return None
