"""Loading what every role needs at start-up: settings, brands and the key ring."""

from __future__ import annotations

from dataclasses import dataclass

from tracer.brands import Brands, load_brands
from tracer.files import PRIVATE_DIRECTORY_MODE, tighten
from tracer.keyring import KeyRing, load_keyring
from tracer.settings import Settings, load_settings


@dataclass(frozen=True)
class Context:
    settings: Settings
    brands: Brands
    keyring: KeyRing


def load_context(settings: Settings | None = None, *, create_keyring: bool = True) -> Context:
    """Settings from the environment, the brands file and the key ring, all validated;
    raises `ConfigurationError` listing every problem found. `create_keyring`: make the
    development key ring when it is missing (roles do; other commands refuse)."""
    settings = settings or load_settings()
    # An existing data directory is made private (an older Tracer left it 0755); a
    # missing one is created 0700 by whichever role writes there first.
    tighten(settings.data_dir, PRIVATE_DIRECTORY_MODE)
    brands = load_brands(settings.config_path)
    keyring = load_keyring(settings.keys, settings.dev_keyring_path, create=create_keyring)
    return Context(settings=settings, brands=brands, keyring=keyring)
