"""`tracer keys …` and `tracer link …` through the real command line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tracer.brands import Brands
from tracer.errors import TokenError
from tracer.keyring import load_keyring
from tracer.links import LinkBuilder, LinkError
from tracer.tokens import CLICK, OPEN, UNSUBSCRIBE, TokenCodec


def tracer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], **env},
    )


def test_a_dev_key_ring_is_created_with_mode_0600(tmp_path: Path) -> None:
    env = {"TRACER_DATA_DIR": str(tmp_path)}

    result = tracer("link", "open", "--brand", "northjobs", "--message-id", "m", env=env)

    assert result.returncode == 0, result.stderr
    ring_file = tmp_path / "keyring.json"
    assert stat.S_IMODE(ring_file.stat().st_mode) == 0o600


def test_keys_new_rotate_retire_and_list(tmp_path: Path) -> None:
    ring_file = tmp_path / "ring.json"
    env = {"TRACER_DATA_DIR": str(tmp_path), "TRACER_KEYS": str(ring_file)}

    assert tracer("keys", "new", "--out", str(ring_file), env=env).returncode == 0
    assert stat.S_IMODE(ring_file.stat().st_mode) == 0o600
    old_link = tracer(
        "link",
        "click",
        "--brand",
        "northjobs",
        "--message-id",
        "m",
        "--url",
        "https://northjobs.example/a",
        env=env,
    ).stdout.strip()
    assert tracer("keys", "rotate", env=env).returncode == 0
    listing = tracer("keys", "list", env=env).stdout

    assert [line.split("\t")[:2] for line in listing.splitlines()] == [
        ["1", "decrypt"],
        ["2", "active"],
    ]
    assert "secret" not in listing
    ring = load_keyring(str(ring_file), tmp_path / "unused")
    assert TokenCodec(ring).open(old_link.rsplit("/", 1)[1]).url == "https://northjobs.example/a"

    assert tracer("keys", "retire", "1", env=env).returncode == 0
    ring = load_keyring(str(ring_file), tmp_path / "unused")
    with pytest.raises(TokenError):
        TokenCodec(ring).open(old_link.rsplit("/", 1)[1])
    refused = tracer("keys", "retire", "2", env=env)
    assert refused.returncode == 1 and "rotate before retiring" in refused.stderr
    assert tracer("keys", "new", "--out", str(ring_file), env=env).returncode == 1


def test_link_commands_print_absolute_urls_on_the_brands_first_host(tmp_path: Path) -> None:
    env = {"TRACER_DATA_DIR": str(tmp_path)}
    click = tracer(
        "link",
        "click",
        "--brand",
        "northjobs",
        "--message-id",
        "M",
        "--url",
        "https://northjobs.example/jobs/7",
        "--recipient",
        "a@b.example",
        "--campaign",
        "c1",
        "--job-source",
        "indeed",
        "--count",
        "3",
        env=env,
    )
    opens = tracer(
        "link", "open", "--brand", "northjobs", "--message-id", "M", "--position", "header", env=env
    )
    unsubscribe = tracer(
        "link",
        "unsubscribe",
        "--brand",
        "northjobs",
        "--message-id",
        "M",
        "--recipient",
        "a@b.example",
        env=env,
    )

    ring = load_keyring(None, tmp_path / "keyring.json")
    codec = TokenCodec(ring)
    clicks = click.stdout.splitlines()
    assert len(clicks) == 3
    assert all(url.startswith("https://t.northjobs.example/c/") for url in clicks)
    payloads = [codec.open(url.rsplit("/", 1)[1]) for url in clicks]
    assert [p.message_id for p in payloads] == ["M-1", "M-2", "M-3"]
    assert {(p.kind, p.campaign, p.job_source, p.url) for p in payloads} == {
        (CLICK, "c1", "indeed", "https://northjobs.example/jobs/7")
    }
    assert "a@b.example" not in click.stdout
    pixel = opens.stdout.strip()
    assert pixel.startswith("https://t.northjobs.example/o/") and pixel.endswith(".gif")
    assert codec.open(pixel.rsplit("/", 1)[1].removesuffix(".gif")).kind == OPEN
    assert codec.open(unsubscribe.stdout.strip().rsplit("/", 1)[1]).kind == UNSUBSCRIBE


def test_link_errors_are_clear(tmp_path: Path) -> None:
    env = {"TRACER_DATA_DIR": str(tmp_path)}

    bad_url = tracer(
        "link",
        "click",
        "--brand",
        "northjobs",
        "--message-id",
        "M",
        "--url",
        "javascript:alert(1)",
        env=env,
    )
    bad_brand = tracer("link", "open", "--brand", "nope", "--message-id", "M", env=env)

    assert bad_url.returncode == 2 and "is not an absolute http(s) URL" in bad_url.stderr
    assert bad_brand.returncode == 2 and "'nope' is not a configured brand" in bad_brand.stderr


def test_destinations_are_normalised_to_ascii(example_brands: Brands, keyring) -> None:
    builder = LinkBuilder(example_brands, keyring)
    url = builder.click("northjobs", "m", "https://Bücher.example/Stellen/Köln?q=café jobs")

    payload = builder.codec.open(url.rsplit("/", 1)[1])

    assert payload.url == ("https://xn--bcher-kva.example/Stellen/K%C3%B6ln?q=caf%C3%A9%20jobs")
    with pytest.raises(LinkError):
        builder.click("northjobs", "m", "https://x.example/\r\nSet-Cookie: a=b")


def test_recipient_is_never_in_the_url(example_brands: Brands, keyring) -> None:
    builder = LinkBuilder(example_brands, keyring)
    for url in (
        builder.click(
            "northjobs", "m", "https://northjobs.example/", recipient="jane@corp.example"
        ),
        builder.open("northjobs", "m", recipient="jane@corp.example"),
        builder.unsubscribe("northjobs", "m", recipient="jane@corp.example"),
    ):
        assert "jane" not in url.lower() and "corp" not in url.lower()
        payload = builder.codec.open(url.rsplit("/", 1)[1].removesuffix(".gif"))
        assert "jane" not in json.dumps(payload.recipient)
        assert payload.recipient == builder.hasher.hash("northjobs", " JANE@corp.example ")
