"""`tracer classify` as an operator runs it: a real process, lines in, verdicts out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TRACER = str(Path(sys.executable).with_name("tracer"))

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)

LINES = [
    f"93.184.216.34\t{CHROME}",
    "17.58.63.100\tMozilla/5.0",
    f"66.249.84.10\t{GMAIL_PROXY}\tGET",
    "no tab on this line",
    "40.107.22.104\tcurl/8.5.0\thead",
    f"93.184.216.34\t{CHROME}\tDELETE",
    "",
    "93.184.216.34\t",
    f"198.51.100.7\t{CHROME}",
    "a\tb\tGET\textra",
    f"209.222.82.50\t{CHROME}",
]

OPEN_ANSWERS = [
    "human\tno_signal",
    "mpp\tnet:apple,ua:apple-mpp",
    "proxy\tnet:gmail-image-proxy,ua:gmail-image-proxy",
    "error\tbad_line",
    "scanner\tnet:microsoft-safelinks,ua:curl,head",
    "error\tbad_line",
    "error\tbad_line",
    "bot\tno_ua",
    "human\tno_signal",
    "error\tbad_line",
    "scanner\tnet:barracuda",
]

BRANDS = """
[[brands]]
id = "audited"
name = "Audited Jobs"
hosts = ["t.audited.example"]
landing_url = "https://audited.example/"
[brands.bot_policy]
networks = { "audited-gateway" = ["198.51.100.0/24"] }
ignore_vendors = ["barracuda"]
"""


def tracer(*args: str, stdin: bytes, env: dict[str, str] | None = None):
    return subprocess.run(
        [TRACER, *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    path = tmp_path / "hits.tsv"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_open_verdicts_one_line_each(input_file: Path) -> None:
    with input_file.open("rb") as stdin:
        done = subprocess.run(
            [TRACER, "classify", "--kind", "open"],
            stdin=stdin,
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split("\n") == [*OPEN_ANSWERS, ""]


def test_click_verdicts(input_file: Path) -> None:
    done = tracer("classify", "--kind", "click", stdin=input_file.read_bytes())
    assert done.returncode == 0, done.stderr
    answers = done.stdout.decode().splitlines()
    assert answers[1] == "bot\tua:apple-mpp"  # MPP does not click
    assert answers[2] == "bot\tua:gmail-image-proxy"
    assert answers[4] == "scanner\tnet:microsoft-safelinks,ua:curl,head"
    assert answers[8] == "human\tno_signal"
    assert answers[10] == "scanner\tnet:barracuda"


def test_brand_overrides(input_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "brands.toml"
    config.write_text(BRANDS, encoding="utf-8")
    done = tracer(
        "classify",
        "--kind",
        "click",
        "--brand",
        "audited",
        stdin=input_file.read_bytes(),
        env={"TRACER_CONFIG": str(config)},
    )
    assert done.returncode == 0, done.stderr
    answers = done.stdout.decode().splitlines()
    assert answers[8] == "scanner\tnet:audited-gateway"
    assert answers[10] == "human\tno_signal"  # barracuda ignored by this brand


def test_unknown_brand_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "brands.toml"
    config.write_text(BRANDS, encoding="utf-8")
    done = tracer(
        "classify",
        "--kind",
        "open",
        "--brand",
        "nope",
        stdin=b"",
        env={"TRACER_CONFIG": str(config)},
    )
    assert done.returncode == 2
    assert "unknown brand 'nope'" in done.stderr.decode()


def test_undecodable_and_huge_lines() -> None:
    huge = b"1.2.3.4\t" + b"Mozilla/5.0 " * 50_000 + b"\n"
    stdin = b"1.2.3.4\tcurl/8 \xff\xfe\x80\n" + huge + b"\xff\xff\n" + b"1.2.3.4\tWget/1.21\r\n"
    done = tracer("classify", "--kind", "click", stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [
        "bot\tua:curl",
        "bot\tua:not-a-browser",  # judged on its first 1,024 characters: no browser's shape
        "error\tbad_line",
        "bot\tua:wget",
    ]


def test_answers_stream_before_input_ends() -> None:
    """Each answer is written as its line is read: an auditor can keep the pipe open."""
    process = subprocess.Popen(
        [TRACER, "classify", "--kind", "click"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        process.stdin.write(b"1.2.3.4\tpython-requests/2.32.3\n")
        process.stdin.flush()
        assert process.stdout.readline() == b"bot\tua:python-requests\n"
        process.stdin.write(f"1.2.3.4\t{CHROME}\n".encode())
        process.stdin.flush()
        assert process.stdout.readline() == b"human\tno_signal\n"
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_kind_is_required() -> None:
    done = tracer("classify", stdin=b"")
    assert done.returncode == 2
    assert "--kind" in done.stderr.decode()


def test_a_fourth_column_replays_click_timing() -> None:
    """`age_s`: seconds since the link was made. A click 40 s after sending from Azure
    address space is a scanner's; the same click an hour later is noted, a person's."""
    lines = [
        f"40.94.12.7\t{CHROME}\tGET\t40",
        f"40.94.12.7\t{CHROME}\tGET\t3600",
        f"93.184.216.34\t{CHROME}\tGET\t0.5",
        f"93.184.216.34\t{CHROME}\tGET\t",
        f"93.184.216.34\t{CHROME}\tGET\tsoon",
        f"93.184.216.34\t{CHROME}\tGET\tnan",
    ]
    done = tracer("classify", "--kind", "click", stdin=("\n".join(lines) + "\n").encode())
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [
        "scanner\tcloud-scan:microsoft-registry",
        "human\tcloud:microsoft-registry",
        "scanner\tfast_click",
        "human\tno_signal",
        "error\tbad_line",
        "error\tbad_line",
    ]
