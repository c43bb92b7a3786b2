"""Settings for the commands people run by hand, completed from the running instance.

`tracer up` records its runtime facts under its data dir (`tracer.instance`). A command
run in the same place, with `REDIS_URL` (or `MONGODB_URL`, `TRACER_CONFIG`, `TRACER_KEYS`)
unset, takes the instance's value, and says on stderr which instance it talks to. An
explicitly set variable always wins.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import msgspec

from tracer.errors import ConfigurationError
from tracer.instance import InstanceFacts, read_facts
from tracer.settings import Secret, Settings, load_settings, mask_url


def command_settings(*, quiet: bool = False) -> Settings:
    """`load_settings()`, with every unset setting the running instance knows filled in."""
    settings = load_settings()
    facts = read_facts(settings.data_dir)
    if facts is None:
        return settings
    changes = _from_instance(facts, os.environ)
    if not changes:
        return settings
    if not quiet:
        _announce(facts, changes)
    return msgspec.structs.replace(settings, **changes)


def _from_instance(facts: InstanceFacts, environ: os._Environ[str] | dict[str, str]) -> dict:
    changes: dict[str, object] = {}
    if not environ.get("REDIS_URL") and facts.redis_url:
        changes["redis_url"] = Secret(facts.redis_url)
    if not environ.get("MONGODB_URL") and facts.mongodb_url:
        changes["mongodb_url"] = Secret(facts.mongodb_url)
    if not environ.get("TRACER_CONFIG") and facts.config_path:
        changes["config_path"] = Path(facts.config_path)
    if not environ.get("TRACER_KEYS"):
        if facts.keys_inline:
            raise ConfigurationError(
                f"TRACER_KEYS: the instance ({facts.describe()}) was given its key ring "
                "inline in TRACER_KEYS; set the same TRACER_KEYS here"
            )
        if facts.keys:
            changes["keys"] = Secret(facts.keys)
    return changes


def _announce(facts: InstanceFacts, changes: dict) -> None:
    lines = [f"tracer: using the instance of {facts.describe()}"]
    if "redis_url" in changes:
        lines.append(f"  redis  {mask_url(str(changes['redis_url']))}")
        if not facts.running:
            lines.append("  (that instance is not running: its private Redis will not answer)")
    if "mongodb_url" in changes:
        lines.append(f"  store  {mask_url(str(changes['mongodb_url']))}")
    print("\n".join(lines), file=sys.stderr)
