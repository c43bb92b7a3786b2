"""What every suite shares besides fixtures: where the project is, the example brands, and
the environment a child process starts from."""

from __future__ import annotations

import os
from pathlib import Path

# The environment as the test run found it (fixtures scrub TRACER_*/REDIS_URL/MONGODB_URL
# for every test; suites that honour e.g. MONGODB_URL read it from here). Captured when the
# root conftest imports this module, before any test runs.
ORIGINAL_ENVIRONMENT = dict(os.environ)
# Settings a developer's shell may carry, besides every TRACER_* one: no test, and no
# process a test starts, may read them.
SETTINGS_ENV = ("REDIS_URL", "MONGODB_URL", "SENTRY_DSN")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_BRANDS = ROOT / "config" / "brands.example.toml"


def is_setting(name: str) -> bool:
    return name.startswith("TRACER_") or name in SETTINGS_ENV


def environment_without_settings() -> dict[str, str]:
    """The environment without Tracer's settings: where a child process's starts."""
    return {name: value for name, value in os.environ.items() if not is_setting(name)}
