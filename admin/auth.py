"""API keys: `Authorization: Bearer <key>`, and a key only ever sees its own brand.

Brands store the SHA-256 of their keys (`[[brands.api_keys]]`), never the keys. A request
key is hashed and compared with every stored hash in constant time, all of them every
time, so neither the answer nor its timing says how close a guess came. Keys never reach a
log line.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from msgspec import UNSET, UnsetType

from admin.errors import ApiError
from tracer.brands import Brands
from tracer.demo_keys import DEV_MODE_HINT, is_demo_key
from tracer.errors import ConfigurationError

BRAND = web.RequestKey("brand", str)
# Routes anyone may call (by route name).
PUBLIC_ROUTES = frozenset({"healthz", "readyz", "openapi"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tracer"'}


class KeyIndex:
    """Which brand an API key belongs to. Outside development mode the example brands'
    published demo keys belong to nobody (`tracer.demo_keys`)."""

    def __init__(self, brands: Brands, *, dev_mode: bool = False) -> None:
        listed = [
            (bytes.fromhex(key.sha256), brand.id) for brand in brands for key in brand.api_keys
        ]
        demo = [(digest, brand) for digest, brand in listed if is_demo_key(brand, digest.hex())]
        self.refused_demo_brands = sorted({brand for _, brand in demo}) if not dev_mode else []
        self._demo_digests = (
            frozenset(digest for digest, _ in demo) if not dev_mode else frozenset()
        )
        self._entries = [entry for entry in listed if entry[0] not in self._demo_digests]
        owners: dict[bytes, str] = {}
        for digest, brand_id in self._entries:
            other = owners.setdefault(digest, brand_id)
            if other != brand_id:
                # One key for two brands would let one of them act as the other.
                raise ConfigurationError(
                    f"api_keys: brands {other!r} and {brand_id!r} list the same key"
                )

    def brand_for(self, key: str) -> str | None:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found = None
        for expected, brand in self._entries:
            # No early exit: every request costs the same comparisons.
            if hmac.compare_digest(digest, expected):
                found = brand
        return found

    def is_refused_demo_key(self, key: str) -> bool:
        """A published demo key, listed in the brands file but refused (not dev mode)."""
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        return digest in self._demo_digests


def bearer_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return None
    return key


def authenticate(keys: KeyIndex, authorization: str | None) -> str:
    """The brand of the request's key, or `ApiError` 401."""
    key = bearer_key(authorization)
    if key is None:
        raise ApiError(
            401, "an API key is required: Authorization: Bearer <key>", headers=_CHALLENGE
        )
    brand = keys.brand_for(key)
    if brand is None:
        if keys.is_refused_demo_key(key):
            raise ApiError(401, f"the API key is refused: {DEV_MODE_HINT}", headers=_CHALLENGE)
        raise ApiError(401, "the API key is not valid", headers=_CHALLENGE)
    return brand


def authorize(request: web.Request, named: str | UnsetType = UNSET) -> str:
    """The brand a request acts for: the key's own, which the request may name but not
    change (403, whether or not the named brand exists, so brand ids are not probed)."""
    brand = request[BRAND]
    if named is not UNSET and named != brand:
        raise ApiError(403, "this API key belongs to another brand", field="brand")
    return brand


def auth_middleware(keys: KeyIndex) -> Middleware:
    """Authenticate every request but those of `PUBLIC_ROUTES` and unknown paths."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        if match.http_exception is None and match.route.name not in PUBLIC_ROUTES:
            request[BRAND] = authenticate(keys, request.headers.get("Authorization"))
        return await handler(request)

    return middleware
