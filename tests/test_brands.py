"""The brands file: the example is valid, and every problem of a bad file is reported at
once, each naming its path and value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import EXAMPLE_BRANDS
from tracer.brands import load_brands, parse_brands
from tracer.errors import ConfigurationError

MINIMAL = """
[[brands]]
id = "northjobs"
name = "North Jobs"
hosts = ["t.northjobs.example"]
landing_url = "https://northjobs.example/"

[[brands.webhooks]]
url = "https://hooks.northjobs.example/tracer"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
events = ["open", "click", "unsubscribe"]
"""

BROKEN = """
[[brands]]
id = "ok"
name = "OK"
hosts = ["t.ok.example"]
landing_url = "https://ok.example/"

[[brands]]
id = "Bad_Id"
name = "Bad"
hosts = ["t.ok.example", 7]
landing_url = "ftp://bad.example/"
colour = "red"

[brands.privacy]
ipv4_prefix = 40

[[brands.webhooks]]
url = "htp:/x"
secret = "not-a-secret"
events = ["clicks"]

[[brands]]
name = "No id"
hosts = ["t.noid.example"]
landing_url = "https://noid.example/"
"""


def test_the_example_file_has_22_valid_brands_with_distinct_hosts() -> None:
    brands = load_brands(EXAMPLE_BRANDS)

    assert len(brands) == 22
    assert len(brands.by_host) == sum(len(b.hosts) for b in brands)
    assert all(brand.webhooks and brand.cpc for brand in brands)


def test_a_file_with_only_the_documented_keys_is_valid() -> None:
    brand = parse_brands(MINIMAL).get("northjobs")

    assert brand.webhooks[0].events == ["open", "click", "unsubscribe"]
    assert brand.privacy.ipv4_prefix == 24  # defaults fill the rest
    assert brand.utm["utm_campaign"] == "{campaign}"


def test_every_problem_is_reported_with_its_path_and_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_brands(BROKEN)

    problems = caught.value.problems
    expected = [
        "brands[1].id: 'Bad_Id' must match [a-z0-9-]+",
        "brands[1].hosts[0]: 't.ok.example' already belongs to brand 'ok'",
        "brands[1].hosts[1]: 7 is not valid (Expected `str`, got `int`)",
        "brands[1].landing_url: 'ftp://bad.example/' is not an http(s) URL",
        "brands[1].colour: unknown key",
        "brands[1].privacy.ipv4_prefix: 40 must be in 0..32",
        "brands[1].webhooks[0].url: 'htp:/x' is not an http(s) URL",
        "brands[1].webhooks[0].events[0]: 'clicks' is not an event type "
        "(sent, open, click, unsubscribe_view, unsubscribe, conversion, revoked_click)",
        "brands[2].id: missing (required)",
    ]
    for line in expected:
        assert line in problems, (line, problems)
    assert any(p.startswith("brands[1].webhooks[0].secret:") for p in problems)
    assert not any(p.startswith("brands[0]") for p in problems)


WEBHOOK = """
[[brands.webhooks]]
url = "{url}"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
fallback_stream = "{stream}"
"""


def _brand(brand_id: str, *hooks: tuple[str, str]) -> str:
    head = (
        f'[[brands]]\nid = "{brand_id}"\nname = "{brand_id}"\n'
        f'hosts = ["t.{brand_id}.example"]\nlanding_url = "https://{brand_id}.example/"\n'
    )
    return head + "".join(WEBHOOK.format(url=url, stream=stream) for url, stream in hooks)


def test_webhook_urls_and_fallback_streams_that_would_mix_data_are_refused() -> None:
    """One URL listed twice in a brand would be one endpoint with two secrets; a stream
    shared by two brands would give one brand's events to the other; a stream inside
    Tracer's own keys would overwrite its state."""
    text = _brand(
        "one",
        ("https://hooks.one.example/a", "one:events"),
        ("https://hooks.one.example/a", "one:events"),
        ("https://hooks.one.example/b", "tracer:dlq:{one}"),
    ) + _brand(
        "two",
        ("https://hooks.two.example/a", "one:events"),
        ("https://hooks.two.example/b", "tracer:fallback:two"),
        ("https://hooks.two.example/c", "two events"),
    )
    with pytest.raises(ConfigurationError) as caught:
        parse_brands(text)

    problems = caught.value.problems
    assert problems == [
        "brands[0].webhooks[1].url: 'https://hooks.one.example/a' is already brands[0].webhooks[0]",
        "brands[0].webhooks[2].fallback_stream: 'tracer:dlq:{one}' is not a usable stream "
        "name (1 to 200 printable characters without spaces; under 'tracer:' only as "
        "'tracer:fallback:<name>')",
        "brands[1].webhooks[2].fallback_stream: 'two events' is not a usable stream name "
        "(1 to 200 printable characters without spaces; under 'tracer:' only as "
        "'tracer:fallback:<name>')",
        "brands[1].webhooks[0].fallback_stream: 'one:events' already belongs to brand 'one'",
    ]


def test_config_check_lists_all_problems_and_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "brands.toml"
    broken.write_text(BROKEN)

    result = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check", "--file", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "brands[1].webhooks[0].url: 'htp:/x' is not an http(s) URL" in result.stderr
    assert "brands[2].id: missing (required)" in result.stderr
    assert "problem(s) found" in result.stderr


def test_config_check_accepts_the_example(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "22 brands" in result.stdout
    # The example's API keys are published: said, without failing the check.
    assert "22 brand(s) list a published demo API key" in result.stderr


def test_the_edge_refuses_to_start_on_a_bad_file_with_exit_code_1(tmp_path: Path) -> None:
    broken = tmp_path / "brands.toml"
    broken.write_text(BROKEN)

    result = subprocess.run(
        [sys.executable, "-m", "cli", "edge"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "TRACER_CONFIG": str(broken),
            "TRACER_DATA_DIR": str(tmp_path / "var"),
            "PATH": "/usr/bin:/bin",
        },
    )

    assert result.returncode == 1
    assert "error: brands[1].landing_url: 'ftp://bad.example/' is not an http(s) URL" in (
        result.stderr
    )


def test_bad_settings_name_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"TRACER_EDGE_PORT": "eighty", "TRACER_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"},
    )

    assert result.returncode == 1
    assert "TRACER_EDGE_PORT: 'eighty' is not valid" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [("abc", "TRACER_EDGE_WORKERS: 'abc' is not valid"), ("0", "edge_workers: 0 must be >= 1")],
)
def test_a_bad_edge_worker_count_is_named_before_the_edge_starts(
    tmp_path: Path, value: str, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "edge"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"TRACER_EDGE_WORKERS": value, "TRACER_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"},
    )

    assert result.returncode == 1
    assert message in result.stderr


def test_an_api_key_pasted_where_its_hash_belongs_is_named_not_shown() -> None:
    raw_key = "trk_live_6f1c2b9a0e7d4c3b8a5f"
    text = MINIMAL + f'\n[[brands.api_keys]]\nid = "crm"\nsha256 = "{raw_key}"\n'

    with pytest.raises(ConfigurationError) as caught:
        parse_brands(text)

    (problem,) = caught.value.problems
    assert problem.startswith("brands[0].api_keys[0].sha256: 'trk_…' (29 characters) must be")
    assert raw_key not in problem


@pytest.mark.parametrize("command", ["edge", "up"])
def test_a_bad_worker_flag_is_refused_before_anything_starts(tmp_path: Path, command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", command, "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"TRACER_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"},
    )

    assert result.returncode == 2
    assert "argument --workers" in result.stderr
    assert "must be a whole number >= 1, not '0'" in result.stderr
