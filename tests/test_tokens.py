"""The token codec: round trips, tampering, rotation, and a fuzzed decoder."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracer.errors import TokenError
from tracer.keyring import KeyRing, new_keyring
from tracer.tokens import CLICK, OPEN, UNSUBSCRIBE, LinkPayload, TokenCodec

text = st.text(max_size=80)
payloads = st.builds(
    LinkPayload,
    kind=st.sampled_from([CLICK, OPEN, UNSUBSCRIBE]),
    brand=text,
    message_id=text,
    issued=st.integers(min_value=0, max_value=2**40),
    url=st.text(max_size=400),
    link=st.integers(min_value=0, max_value=10_000),
    campaign=text,
    job_source=text,
    channel=st.sampled_from(["email", "sms"]),
    recipient=text,
    position=st.sampled_from(["", "header", "footer"]),
    list_id=text,
    hint=text,
    canary=st.booleans(),
)
URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
RING = new_keyring()
CODEC = TokenCodec(RING)


@given(payloads)
def test_every_payload_round_trips(payload: LinkPayload) -> None:
    token = CODEC.seal(payload)

    assert CODEC.open(token) == payload
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@given(payloads, st.data())
def test_any_changed_character_fails_authentication(payload: LinkPayload, data) -> None:
    token = CODEC.seal(payload)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from("AQgw-_09zZ"))
    tampered = token[:position] + replacement + token[position + 1 :]
    if tampered == token:
        return
    # The last character may carry unused bits: only a real change of bytes must fail.
    if _bytes(tampered) == _bytes(token):
        return
    with pytest.raises(TokenError):
        CODEC.open(tampered)


def _bytes(token: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_the_decoder_only_ever_raises_token_error(garbage: str) -> None:
    with pytest.raises(TokenError):
        CODEC.open(garbage)


@settings(max_examples=300)
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_in_token_form_never_open(raw: bytes) -> None:
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    with pytest.raises(TokenError):
        CODEC.open(token)


def test_a_token_sealed_under_another_ring_does_not_open() -> None:
    foreign = TokenCodec(new_keyring()).seal(LinkPayload(CLICK, "b", "m", 1, "https://x.example/"))

    with pytest.raises(TokenError, match="authentication failed"):
        CODEC.open(foreign)


def test_rotation_keeps_old_links_working_until_the_key_is_retired() -> None:
    ring = new_keyring()
    old_token = TokenCodec(ring).seal(LinkPayload(CLICK, "b", "m-old", 1, "https://x.example/"))
    rotated = ring.rotate()
    new_token = TokenCodec(rotated).seal(LinkPayload(CLICK, "b", "m-new", 1, "https://x.example/"))

    assert rotated.active.id == 2
    assert TokenCodec(rotated).open(old_token).message_id == "m-old"
    assert TokenCodec(rotated).open(new_token).message_id == "m-new"
    assert new_token[:4] != old_token[:4]  # the key id is in the header

    retired = rotated.retire(1)
    with pytest.raises(TokenError, match="retired"):
        TokenCodec(retired).open(old_token)
    assert TokenCodec(retired).open(new_token).message_id == "m-new"


def test_the_active_key_cannot_be_retired(keyring: KeyRing) -> None:
    from tracer.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="active"):
        keyring.retire(keyring.active.id)


def test_tokens_are_not_deterministic() -> None:
    payload = LinkPayload(CLICK, "b", "m", 1, "https://x.example/")

    assert CODEC.seal(payload) != CODEC.seal(payload)  # fresh nonce each time


@settings(max_examples=200)
@given(
    payloads, st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
)
def test_every_token_has_exactly_one_spelling(payload: LinkPayload, last: str) -> None:
    token = CODEC.seal(payload)
    respelled = token[:-1] + last
    if respelled == token:
        return
    # Changing only the unused low bits of the last character must not give a valid token.
    with pytest.raises(TokenError):
        CODEC.open(respelled)
