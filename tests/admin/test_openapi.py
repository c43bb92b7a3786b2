"""The OpenAPI document: it lists exactly the routes served, and Schemathesis, driven by
it against the running server, finds no server error and no answer off the schema."""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from admin.openapi import build_document
from admin.routes import ROUTES
from tests.admin.helpers import NORTHJOBS_KEY, AdminProcess, Api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_the_document_lists_every_route_and_only_those() -> None:
    document = build_document()
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert documented == {(method, path) for method, path, _, _ in ROUTES}
    assert document["openapi"] == "3.1.0"


async def test_the_document_is_served_without_a_key(api: Api) -> None:
    status, document = await api.get("/openapi.json", key=None)
    assert status == 200
    assert document == build_document()


# Examples per operation and generation mode: about 25 s for the nine operations.
POSITIVE_EXAMPLES = 40
NEGATIVE_EXAMPLES = 25


def test_the_api_conforms_to_its_document(admin: AdminProcess) -> None:
    """Schemathesis reads the served document and fuzzes every operation with it: data
    that fits the schema and data that does not. Neither may give a 5xx, an undocumented
    status, or a body or header off the schema."""
    schema = schemathesis.openapi.from_url(f"{admin.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # Schemathesis leaves out the document's own path.
    assert {(o.method.upper(), o.path) for o in operations} == {
        (method, path) for method, path, _, _ in ROUTES if path != "/openapi.json"
    }
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {NORTHJOBS_KEY}"
        for operation in operations:
            # The document's own examples first: well-formed requests of the key's brand.
            for strategy in schema.get_strategies_from_examples(operation):
                _run(strategy, 3, session)
            _fuzz(operation, GenerationMode.POSITIVE, POSITIVE_EXAMPLES, session)
            # Only what takes input can be given wrong input.
            if len(operation.query) or len(operation.body):
                _fuzz(operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES, session)


def _fuzz(operation, mode: GenerationMode, examples: int, session: requests.Session) -> None:
    _run(operation.as_strategy(generation_mode=mode), examples, session)


def _run(strategy, examples: int, session: requests.Session) -> None:
    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        case.call_and_validate(session=session, checks=CHECKS)

    check()


def test_an_over_long_request_line_gets_the_documented_plain_text_400(
    admin: AdminProcess,
) -> None:
    """aiohttp refuses a request line over 8,190 bytes before any handler runs; the
    document says so, so a client generated from it expects that answer."""
    response = requests.get(
        f"{admin.url}/v1/suppressions", params={"scope": "x" * 9_000},
        headers={"Authorization": f"Bearer {NORTHJOBS_KEY}"}, timeout=10,
    )  # fmt: skip
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    documented = build_document()["paths"]["/v1/suppressions"]["get"]["responses"]["400"]
    assert set(documented["content"]) == {"application/json", "text/plain"}
