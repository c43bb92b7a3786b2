"""Standard Webhooks signatures: `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}`.

While a secret rotates, every delivery carries one signature per secret (space-separated),
so a receiver that still knows only the old secret keeps verifying.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from tracer.brands import Webhook, webhook_secret_bytes

USER_AGENT = "Tracer-Webhooks/1"
# Sent with every request. The answer's body is read only for an error message and never
# inflated, so no compression is asked for; naming both `accept` headers also spares
# aiohttp adding its defaults to each request.
STATIC_HEADERS = {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "accept": "*/*",
    "accept-encoding": "identity",
}


class Signer:
    """Signs request bodies for one endpoint with its current and previous secrets."""

    __slots__ = ("_keys",)

    def __init__(self, secrets: list[str]) -> None:
        # Keyed HMAC states, copied per message: the key schedule is computed once.
        self._keys = [
            hmac.new(webhook_secret_bytes(secret), digestmod=hashlib.sha256) for secret in secrets
        ]

    @classmethod
    def for_webhook(cls, hook: Webhook) -> Signer:
        return cls([hook.secret, *hook.previous_secrets])

    def signature(self, msg_id: str, timestamp: int, body: bytes) -> str:
        prefix = f"{msg_id}.{timestamp}.".encode()
        signatures = []
        for key in self._keys:
            mac = key.copy()
            mac.update(prefix)
            mac.update(body)
            signatures.append("v1," + base64.b64encode(mac.digest()).decode())
        return " ".join(signatures)

    def headers(self, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
        """All the headers of one delivery attempt: `STATIC_HEADERS` and the Standard
        Webhooks ones (signed afresh at each attempt, so a retry hours later is not
        rejected as stale; the id stays the same)."""
        timestamp = int(time.time() if now is None else now)
        return {
            **STATIC_HEADERS,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signature(msg_id, timestamp, body),
        }

    def __repr__(self) -> str:
        return f"Signer(<{len(self._keys)} secret(s)>)"
