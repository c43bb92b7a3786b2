"""Fixtures of the store suite: one test class runs against every backend."""

from tests.store.backends import (  # noqa: F401  (fixtures)
    mongo_base_url,
    store,
    store_factory,
    store_kind,
)
