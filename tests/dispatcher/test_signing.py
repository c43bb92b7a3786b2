"""Signatures checked by the third-party `standardwebhooks` verifier, including the
negative controls: a forged, tampered or stale message must be rejected."""

from __future__ import annotations

import base64
import time

import pytest
import standardwebhooks
from standardwebhooks.webhooks import WebhookVerificationError

from dispatcher.payload import batch_id, message
from dispatcher.signing import Signer
from tests.dispatcher.helpers import make_event, new_secret


def test_signature_verifies_with_the_reference_library():
    secret = new_secret()
    event = make_event()
    msg_id, body = message([event], batched=False)
    headers = Signer([secret]).headers(msg_id, body)
    payload = standardwebhooks.Webhook(secret).verify(body, headers)
    assert payload["id"] == event.id == headers["webhook-id"]


def test_every_secret_of_a_rotation_signs():
    new, old = new_secret(), new_secret()
    msg_id, body = message([make_event()], batched=False)
    headers = Signer([new, old]).headers(msg_id, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        standardwebhooks.Webhook(secret).verify(body, headers)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda body, headers, secret: (body.replace(b"click", b"clack"), headers),
            id="tampered-body",
        ),
        pytest.param(
            lambda body, headers, secret: (body, {**headers, "webhook-id": "other"}),
            id="swapped-id",
        ),
        pytest.param(
            lambda body, headers, secret: (
                body,
                Signer([new_secret()]).headers(headers["webhook-id"], body),
            ),
            id="wrong-secret",
        ),
        pytest.param(
            lambda body, headers, secret: (
                body,
                Signer([secret]).headers(headers["webhook-id"], body, now=time.time() - 600),
            ),
            id="stale-timestamp",
        ),
        pytest.param(
            lambda body, headers, secret: (
                body,
                {**headers, "webhook-signature": _flip_a_bit(headers["webhook-signature"])},
            ),
            id="garbled-signature",
        ),
    ],
)
def test_forged_or_stale_messages_are_rejected(forge):
    secret = new_secret()
    msg_id, body = message([make_event()], batched=False)
    headers = Signer([secret]).headers(msg_id, body)
    forged_body, forged_headers = forge(body, headers, secret)
    with pytest.raises(WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(forged_body, forged_headers)


def _flip_a_bit(signature: str) -> str:
    version, encoded = signature.split(",")
    raw = bytearray(base64.b64decode(encoded))
    raw[0] ^= 1
    return f"{version},{base64.b64encode(bytes(raw)).decode()}"


def test_batch_id_is_stable_and_order_free():
    events = [make_event() for _ in range(3)]
    assert batch_id(events) == batch_id(list(reversed(events)))
    assert batch_id(events) != batch_id(events[:2])
    msg_id, body = message(events, batched=True)
    assert msg_id.startswith("batch_") and body.startswith(b"[")


def test_signer_repr_hides_secrets():
    secret = new_secret()
    assert secret.removeprefix("whsec_") not in repr(Signer([secret]))


async def test_the_test_receiver_rejects_what_the_verifier_rejects():
    """Negative control for every delivery test that asserts `receiver.rejected == []`:
    over HTTP, the receiver answers 401 to a tampered body or a foreign secret's signature
    and lists it, and accepts the genuine message."""
    import aiohttp

    from tests.dispatcher.helpers import Receiver

    secret = new_secret()
    receiver = await Receiver(secret).start()
    msg_id, body = message([make_event()], batched=False)
    genuine = Signer([secret]).headers(msg_id, body)
    foreign = Signer([new_secret()]).headers(msg_id, body)
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for data, headers in ((body + b" ", genuine), (body, foreign), (body, genuine)):
                async with session.post(receiver.url, data=data, headers=headers) as reply:
                    statuses.append(reply.status)
    finally:
        await receiver.stop()

    assert statuses == [401, 401, 200]
    assert len(receiver.rejected) == 2
    assert [seen.webhook_id for seen in receiver.delivered] == [msg_id]
