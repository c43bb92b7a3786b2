"""Secrets are a type, not a convention: connection URLs with passwords, the key ring, the
Sentry DSN and the admin token never show in a `repr`, so neither a log line nor an error
report that prints a settings object can carry them."""

from __future__ import annotations

import json
import logging

from admin.dashboard.token import load_admin_token
from tracer.settings import Secret, load_settings

REDIS_PASSWORD = "redis-pw-7f3k2"
MONGO_PASSWORD = "mongo-pw-9q8w7"
SENTRY_KEY = "0123456789abcdef0123456789abcdef"
RING = '{"keys": [], "recipient_key": "cmVjaXBpZW50LXNlY3JldA==", "slug_key": "c2x1Zw=="}'
ADMIN_TOKEN = "admin-token-5Gq8n2Lx0Zr7Ty3V"
ENVIRONMENT = {
    "REDIS_URL": f"redis://:{REDIS_PASSWORD}@10.0.0.5:6379/0",
    "MONGODB_URL": f"mongodb://tracer:{MONGO_PASSWORD}@10.0.0.6/tracer",
    "SENTRY_DSN": f"https://{SENTRY_KEY}@o1.ingest.sentry.io/2",
    "TRACER_KEYS": RING,
}
SECRETS = (REDIS_PASSWORD, MONGO_PASSWORD, SENTRY_KEY, "cmVjaXBpZW50LXNlY3JldA==", ADMIN_TOKEN)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def test_settings_show_no_secret_in_repr_but_give_each_value_when_used() -> None:
    settings = load_settings(ENVIRONMENT)

    assert_no_secret(repr(settings))
    assert "Secret('**********')" in repr(settings)
    # Used as strings (by redis-py, pymongo, sentry-sdk), they are the values themselves.
    assert str(settings.redis_url) == ENVIRONMENT["REDIS_URL"]
    assert settings.mongodb_url.startswith("mongodb://tracer:")
    assert json.loads(settings.keys)["slug_key"] == "c2x1Zw=="


def test_a_log_line_or_a_formatted_error_that_names_the_settings_shows_no_secret(
    caplog,
) -> None:
    settings = load_settings(ENVIRONMENT)
    with caplog.at_level(logging.INFO):
        logging.getLogger("tracer.test").info("starting with %r", settings)
        logging.getLogger("tracer.test").info("starting with %s", [settings.redis_url])
    assert_no_secret(caplog.text)
    assert_no_secret(f"{settings!r} {[settings.mongodb_url, settings.sentry_dsn]}")


def test_a_bad_secret_value_is_refused_without_being_quoted() -> None:
    from tracer.errors import ConfigurationError

    try:
        load_settings({"REDIS_URL": f"http://:{REDIS_PASSWORD}@x/"})
    except ConfigurationError as exc:
        assert_no_secret(str(exc))
    else:
        raise AssertionError("an http:// REDIS_URL was accepted")


def test_the_admin_token_shows_only_where_it_came_from(tmp_path) -> None:
    token = load_admin_token({"TRACER_ADMIN_TOKEN": ADMIN_TOKEN}, tmp_path)

    assert_no_secret(repr(token))
    assert isinstance(token.value, Secret) and token.matches(ADMIN_TOKEN)


WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_brand_shows_no_webhook_secret_but_signs_with_it() -> None:
    from tracer.brands import parse_brands, webhook_secret_bytes

    brands = parse_brands(
        f"""
[[brands]]
id = "acme"
name = "Acme"
hosts = ["t.acme.example"]
landing_url = "https://acme.example/"
[[brands.webhooks]]
url = "https://hooks.acme.example/tracer"
secret = "{WEBHOOK_SECRET}"
previous_secrets = ["{WEBHOOK_SECRET[:-4]}AAAA"]
"""
    )
    hook = brands.get("acme").webhooks[0]

    assert "MfKQ9r8GKYqrTwjUPD8I" not in repr(brands.get("acme"))
    assert isinstance(hook.secret, Secret)
    assert all(isinstance(s, Secret) for s in hook.previous_secrets)
    assert webhook_secret_bytes(hook.secret) == webhook_secret_bytes(WEBHOOK_SECRET)


LOGS_SETTINGS_AND_A_BRAND = """
import logging
from tracer.brands import load_brands
from tracer.logs import configure_logging
from tracer.observability import init_sentry
from tracer.settings import load_settings

settings = load_settings()
configure_logging("INFO", role="batcher")
assert init_sentry("batcher", settings)
brand = load_brands(settings.config_path).get("northjobs")
logging.getLogger("tracer.check").error("cannot start with %r and %r", settings, brand)
import sentry_sdk
sentry_sdk.flush(5)
"""


def test_no_secret_reaches_a_log_line_or_a_sentry_event(tmp_path) -> None:
    """1. A process with secrets in every setting logs an error naming its settings and a
    brand (as a careless log line would). Result: neither the log line nor the event the
    Sentry stand-in receives holds any of them."""
    import os
    import subprocess
    import sys

    from tests.support import ROOT
    from tests.test_sentry import SentryStandIn

    sentry = SentryStandIn().start()
    try:
        script = tmp_path / "role.py"
        script.write_text(LOGS_SETTINGS_AND_A_BRAND)
        env = {
            "PATH": os.environ["PATH"],
            "TRACER_DATA_DIR": str(tmp_path),
            **ENVIRONMENT,
            "SENTRY_DSN": sentry.dsn,
        }
        done = subprocess.run([sys.executable, str(script)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "cannot start with Settings(" in done.stderr
        _event, raw = sentry.wait_for_event(lambda e: "cannot start" in str(e))
    finally:
        sentry.stop()
    from tests.support import EXAMPLE_BRANDS
    from tracer.brands import load_brands

    hooks = load_brands(EXAMPLE_BRANDS).get("northjobs").webhooks
    assert hooks, "the example brand has a webhook secret to leak"
    for text in (done.stderr, raw.decode()):
        assert_no_secret(text)
        for hook in hooks:
            assert str(hook.secret).removeprefix("whsec_") not in text
