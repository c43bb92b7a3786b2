"""`/v1/revocations`: a brand revokes links already sent (their clicks go to its landing
page), lists its rules, and lifts the ones it made.

Rules are kept in Redis by `tracer.revocations`, the same store `tracer revoke` writes;
every edge worker applies a change within a moment. A rule an operator made with `tracer
revoke` cannot be lifted through the API: if the brand's key leaked, whoever holds it must
not be able to undo the kill switch.
"""

from __future__ import annotations

from aiohttp import web
from msgspec import UNSET

from admin.auth import authorize
from admin.errors import ApiError, json_response
from admin.schemas import (
    RevocationLifted,
    RevocationList,
    RevocationQuery,
    RevocationRequest,
    RevocationResult,
    RevocationRule,
    RevocationsQuery,
)
from admin.services import SERVICES
from admin.validation import decode_body, decode_query
from tracer import revocations
from tracer.revocations import KINDS, Revocation, RevocationError


async def list_revocations(request: web.Request) -> web.Response:
    query = decode_query(request.query, RevocationsQuery)
    brand = authorize(request, query.brand)
    rules = await revocations.load(request.app[SERVICES].redis, brand)
    return json_response(RevocationList(brand=brand, revocations=[_rule(r) for r in rules]))


async def post_revocation(request: web.Request) -> web.Response:
    """201 with the new rule; 200 when the same rule was there already."""
    body = decode_body(await request.read(), RevocationRequest)
    brand = authorize(request, body.brand)
    kind, value = _selected(body)
    try:
        rule = revocations.new_rule(brand, kind, value, source="api", note=body.note)
    except RevocationError as exc:
        raise ApiError(422, str(exc).partition(": ")[2] or str(exc), field=kind) from None
    redis = request.app[SERVICES].redis
    created = await revocations.add(redis, rule)
    if not created:
        rule = await revocations.find(redis, brand, kind, rule.value) or rule
    return json_response(
        RevocationResult(brand=brand, revocation=_rule(rule), created=created),
        status=201 if created else 200,
    )


async def delete_revocation(request: web.Request) -> web.Response:
    query = decode_query(request.query, RevocationQuery)
    brand = authorize(request, query.brand)
    kind, value = _selected(query)
    redis = request.app[SERVICES].redis
    try:
        rule = await revocations.find(redis, brand, kind, value)
    except RevocationError as exc:
        raise ApiError(422, str(exc).partition(": ")[2] or str(exc), field=kind) from None
    if rule is None:
        raise ApiError(404, f"no {kind} rule for {value!r}", field=kind)
    if rule.source == "cli":
        raise ApiError(
            403,
            "an operator made this rule with `tracer revoke`; only `tracer revoke --undo` lifts it",
            field=kind,
        )
    await revocations.remove(redis, brand, kind, value)
    return json_response(RevocationLifted(brand=brand, revocation=_rule(rule)))


def _selected(body: RevocationRequest | RevocationQuery) -> tuple[str, str]:
    named = [(kind, getattr(body, kind)) for kind in KINDS if getattr(body, kind) is not UNSET]
    if len(named) != 1:
        raise ApiError(
            422, "name exactly one of campaign, message_id or destination_host", field="campaign"
        )
    return named[0]


def _rule(rule: Revocation) -> RevocationRule:
    return RevocationRule(
        kind=rule.kind, value=rule.value, created=rule.created, source=rule.source, note=rule.note
    )
