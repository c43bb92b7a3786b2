"""Link revocation at the edge, over real HTTP and a real Redis: `tracer revoke` makes a
rule, every edge worker applies it within a moment, revoked clicks go to the landing page
and are recorded as `revoked_click` events with their reason; `--undo` lifts it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import redis

from tests.edge.helpers import EdgeProcess, wait_for_events
from tests.support import ROOT
from tracer.links import LinkBuilder

LANDING = "https://northjobs.example/"
DESTINATION = "https://jobs.northjobs.example/jobs/1"


def revoke(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "revoke", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def lands(edge: EdgeProcess, url: str) -> bool:
    reply = edge.get(url)
    assert reply.status == 302
    return reply.location == LANDING


def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_revoked_campaign_goes_to_the_landing_page_on_every_worker(
    start_edge: Callable[..., EdgeProcess],
    edge_env: dict[str, str],
    builder: LinkBuilder,
    redis_client: redis.Redis,
) -> None:
    """1. Two edge workers serve links of campaigns "spring" and "summer".
    2. `tracer revoke --campaign spring`.
    Result: spring links land on the landing page, on both workers, and are recorded as
    revoked clicks with the reason revoked:campaign; summer links still redirect; after
    `--undo` spring links redirect again."""
    edge = start_edge(edge_env, workers=2)
    spring = [
        builder.click("northjobs", f"m-{n}", DESTINATION, campaign="spring") for n in range(20)
    ]
    summer = builder.click("northjobs", "m-s", DESTINATION, campaign="summer")
    assert not lands(edge, spring[0])

    done = revoke(edge_env, "--brand", "northjobs", "--campaign", "spring", "--note", "leak")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "revoked: northjobs campaign spring\n"

    assert eventually(lambda: all(lands(edge, url) for url in spring))  # each its connection
    assert not lands(edge, summer)
    recorded = wait_for_events(redis_client, 23)  # 1 + 20 spring clicks (at least), 1 summer
    by_type = {kind: [e for e in recorded if e.type == kind] for kind in ("click", "revoked_click")}
    # The click before the rule, and summer's (two workers: either may reach Redis first).
    assert sorted(e.campaign for e in by_type["click"]) == ["spring", "summer"]
    revoked = by_type["revoked_click"]
    assert len(revoked) >= 20 and {event.campaign for event in revoked} == {"spring"}
    assert all("revoked:campaign" in event.reasons for event in revoked)
    assert all(event.url == DESTINATION for event in revoked)  # what was asked for, for audits
    assert 'reason="revoked"' not in edge.metrics()  # counted per brand as its own route
    assert eventually(
        lambda: 'route="revoked_click",status="302",brand="northjobs"' in edge.metrics()
    )

    listed = revoke(edge_env, "--brand", "northjobs", "--list")
    assert "campaign          spring  [cli]  (leak)" in listed.stdout
    assert (
        revoke(edge_env, "--brand", "northjobs", "--campaign", "spring", "--undo").returncode == 0
    )
    assert eventually(lambda: not any(lands(edge, url) for url in spring))
    assert revoke(edge_env, "--brand", "northjobs", "--list").stdout == "no revocations\n"


def test_a_revoked_host_covers_its_subdomains_and_other_brands_are_untouched(
    edge: EdgeProcess, edge_env: dict[str, str], builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    phishing = [
        builder.click("northjobs", "m-1", "https://login.Phish.example/a"),
        builder.click("northjobs", "m-2", "https://phish.example./b"),
        builder.click("northjobs", "m-3", "https://u@PHISH.example:8443/c"),
    ]
    kept = [
        builder.click("northjobs", "m-4", "https://notphish.example/"),
        builder.click("northjobs", "m-5", "https://phish.example.org/"),
        builder.click("harborcareers", "m-6", "https://phish.example/"),
    ]
    assert (
        revoke(edge_env, "--brand", "northjobs", "--destination-host", "Phish.Example").returncode
        == 0
    )

    assert eventually(lambda: lands(edge, phishing[0]))
    assert all(lands(edge, url) for url in phishing)
    assert edge.get(kept[0]).location.startswith("https://notphish.example/?")
    assert edge.get(kept[1]).location.startswith("https://phish.example.org/?")
    assert edge.get(kept[2]).location.startswith("https://phish.example/?")
    rules = revoke(edge_env, "--brand", "northjobs", "--list", "--json").stdout.splitlines()
    assert len(rules) == 1 and '"value":"phish.example"' in rules[0]


def test_a_revoked_message_and_a_worker_started_while_redis_is_down(
    start_edge: Callable[..., EdgeProcess],
    edge_env: dict[str, str],
    builder: LinkBuilder,
    redis_client: redis.Redis,
) -> None:
    """A worker that starts without Redis applies the rules its data directory kept."""
    edge = start_edge(edge_env)
    link = builder.click("northjobs", "m-77", DESTINATION)
    assert revoke(edge_env, "--brand", "northjobs", "--message-id", "m-77").returncode == 0
    assert eventually(lambda: lands(edge, link))
    edge.stop()

    down = {**edge_env, "REDIS_URL": "redis://127.0.0.1:1/0"}
    edge = start_edge(down)
    assert lands(edge, link)
    assert not lands(edge, builder.click("northjobs", "m-78", DESTINATION))
    assert "applying the 1 rule(s) kept in" in edge.log_text()


def test_revoke_refuses_what_it_cannot_do(edge_env: dict[str, str]) -> None:
    assert revoke(edge_env, "--brand", "northjobs").returncode == 2
    bad_host = revoke(edge_env, "--brand", "northjobs", "--destination-host", "evil\uff0f.example")
    assert bad_host.returncode == 2 and "invalid host name" in bad_host.stderr
    unknown = revoke(edge_env, "--brand", "nobody", "--campaign", "x")
    assert unknown.returncode == 1 and "'nobody' is not a brand" in unknown.stderr
    missing = revoke(edge_env, "--brand", "northjobs", "--campaign", "never", "--undo")
    assert missing.returncode == 1 and "has no campaign rule" in missing.stderr
    no_redis = {key: value for key, value in edge_env.items() if key != "REDIS_URL"}
    assert "REDIS_URL" in revoke(no_redis, "--brand", "northjobs", "--list").stderr
