"""The requests wrk replays: ≥ 100,000 distinct tracked links made by `tracer link`, each
paired with a user agent and a client address drawn from a realistic mix (`agents.py`).

Links come from the real CLI (`tracer link click|open --count N`), over several brands, job
pages, campaigns and job sources. Each line of a requests file is
`path<TAB>host<TAB>user-agent<TAB>x-forwarded-for`; `requests.lua` turns it into a GET.
"""

from __future__ import annotations

import random
import subprocess
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.wrk.agents import Agent
from tracer.brands import Brand

CAMPAIGNS = (
    "daily-alert-2025-11-27",
    "weekly-digest-2025-w48",
    "new-jobs-near-you",
    "saved-search-match",
    "reengage-90d",
    "salary-insights-nov",
    "apply-reminder",
)
JOB_TITLES = (
    "senior-welder",
    "registered-nurse-icu",
    "cdl-a-truck-driver",
    "line-cook",
    "warehouse-associate",
    "staff-accountant",
    "python-developer",
    "forklift-operator",
    "elementary-teacher",
    "retail-store-manager",
    "electrician-apprentice",
    "caregiver",
)
CITIES = ("duluth-mn", "austin-tx", "tampa-fl", "boise-id", "remote", "columbus-oh", "reno-nv")
DEFAULT_SOURCES = ("indeed", "ziprecruiter", "organic")


@dataclass(frozen=True)
class LinkBatch:
    """One `tracer link` invocation: `count` links for message ids `{message_id}-1…-count`."""

    kind: str  # "click" or "open"
    brand: str
    message_id: str
    count: int
    campaign: str
    job_source: str
    recipient: str
    url: str = ""
    link: int = 0
    position: str = "footer"

    def command(self, tracer: Path) -> list[str]:
        common = [
            "--brand",
            self.brand,
            "--message-id",
            self.message_id,
            "--count",
            str(self.count),
            "--campaign",
            self.campaign,
            "--job-source",
            self.job_source,
            "--recipient",
            self.recipient,
        ]
        if self.kind == "click":
            return [
                str(tracer),
                "link",
                "click",
                *common,
                "--url",
                self.url,
                "--link",
                str(self.link),
            ]
        return [str(tracer), "link", "open", *common, "--position", self.position]


def plan_batches(kind: str, total: int, brands: Sequence[Brand], batches: int) -> list[LinkBatch]:
    """Split `total` links over `batches` invocations with varied brands, jobs and campaigns."""
    rng = random.Random(f"{kind}-{total}")
    sizes = [total // batches + (1 if n < total % batches else 0) for n in range(batches)]
    return [
        _batch(kind, n, size, brands[n % len(brands)], rng) for n, size in enumerate(sizes) if size
    ]


def _batch(kind: str, n: int, size: int, brand: Brand, rng: random.Random) -> LinkBatch:
    campaign = rng.choice(CAMPAIGNS)
    sources = tuple(brand.cpc) or DEFAULT_SOURCES
    site = brand.landing_url.rstrip("/")
    job = f"{rng.randrange(10_000, 999_999)}-{rng.choice(JOB_TITLES)}-{rng.choice(CITIES)}"
    return LinkBatch(
        kind=kind,
        brand=brand.id,
        message_id=f"{campaign}-{kind}-{n:03d}",
        count=size,
        campaign=campaign,
        job_source=rng.choice(sources),
        recipient=f"candidate{rng.randrange(1_000_000)}@mail{n % 7}.example",
        url=f"{site}/jobs/{job}?src=email&alert={rng.randrange(1000, 9999)}",
        link=rng.randrange(0, 12),
        position=rng.choice(("header", "footer")),
    )


def generate_links(
    batches: Sequence[LinkBatch], tracer: Path, cwd: Path, env: dict[str, str], parallel: int
) -> list[str]:
    """Run the `tracer link` invocations, `parallel` at a time; return every URL printed."""
    urls: list[str] = []
    pending = list(enumerate(batches))
    running: list[tuple[LinkBatch, Path, subprocess.Popen[bytes]]] = []
    try:
        while pending or running:
            while pending and len(running) < parallel:
                n, batch = pending.pop(0)
                output = cwd / f"links-{batch.kind}-{n:03d}.txt"
                running.append((batch, output, _start(batch, tracer, cwd, env, output)))
            batch, output, process = running.pop(0)
            urls.extend(_collect(batch, process, output))
    finally:
        for _, _, process in running:
            process.kill()
            process.wait()
    return urls


def _start(
    batch: LinkBatch, tracer: Path, cwd: Path, env: dict[str, str], output: Path
) -> subprocess.Popen[bytes]:
    with output.open("wb") as out:
        return subprocess.Popen(
            batch.command(tracer), cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE
        )


def _collect(batch: LinkBatch, process: subprocess.Popen[bytes], output: Path) -> list[str]:
    _, stderr = process.communicate()
    urls = output.read_text(encoding="utf-8").split()
    output.unlink()
    if process.returncode != 0:
        command = " ".join(batch.command(Path("tracer")))
        raise RuntimeError(f"`{command}` failed: {stderr.decode(errors='replace').strip()}")
    if len(urls) != batch.count:
        raise RuntimeError(f"tracer link printed {len(urls)} links, expected {batch.count}")
    return urls


def request_lines(urls: Sequence[str], agents: Sequence[Agent], seed: str) -> Iterator[str]:
    """`path<TAB>host<TAB>user-agent<TAB>x-forwarded-for` for each URL, agents drawn by weight."""
    rng = random.Random(seed)
    chosen = rng.choices(agents, weights=[agent.weight for agent in agents], k=len(urls))
    for url, agent in zip(urls, chosen, strict=True):
        parts = urllib.parse.urlsplit(url)
        yield f"{parts.path}\t{parts.netloc}\t{agent.user_agent(rng)}\t{agent.address(rng)}"


def write_requests(path: Path, lines: Iterator[str]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")
            count += 1
    return count
