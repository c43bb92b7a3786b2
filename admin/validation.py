"""Decoding requests into their Structs, with errors that name the field at fault.

msgspec reports where a value went wrong as a path (``Expected `str`, got `int` - at
`$.links[3].url` ``); the API answers 422 with that path as `field` (`links[3].url`), and
400 when the body is not JSON at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

import msgspec

from admin.errors import ApiError
from tracer.links import LinkError

T = TypeVar("T")

_FIELD_IN_MESSAGE = re.compile(r"^Object (?:missing required|contains unknown) field `(.+)`$")


def decode_body(raw: bytes, kind: type[T]) -> T:
    """The JSON body as a `kind`, or `ApiError` 400 (not JSON) / 422 (not a `kind`)."""
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise invalid(exc) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON ({exc})") from None


def decode_query(query: Mapping[str, str], kind: type[T]) -> T:
    """Query parameters as a `kind` (numbers and dates converted from their text)."""
    try:
        return msgspec.convert(dict(query), kind, strict=False)
    except msgspec.ValidationError as exc:
        raise invalid(exc) from None


def invalid(exc: msgspec.ValidationError) -> ApiError:
    """422 naming the field of a msgspec validation error."""
    detail, _, where = str(exc).partition(" - at `")
    path = where.rstrip("`").removeprefix("$").removeprefix(".")
    named = _FIELD_IN_MESSAGE.match(detail)
    if named:
        path = join_field(path, named[1])
    return ApiError(422, detail, field=path or "body")


def link_error(
    exc: LinkError, *, prefix: str = "", rename: Mapping[str, str] | None = None
) -> ApiError:
    """422 for a `LinkError` ("url: 'x' is not …"). Its field is renamed as `rename` says
    (`url` → `urls[3]`) or else put under `prefix` (`links[3]` + `url`)."""
    own, _, detail = str(exc).partition(": ")
    field = (rename or {}).get(own) or join_field(prefix, own)
    return ApiError(422, detail or str(exc), field=field)


def join_field(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
