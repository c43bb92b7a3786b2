"""The edge benchmark's report: medians, ratios to the baselines of the same run, the
targets as PASS/FAIL, each round, and the machine it ran on."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.wrk import WrkResult

# Per edge route: (share of bare granian's req/s, times Flask+Celery's req/s, p99 in ms),
# the raw-hit edge's targets (opens only check their shape; clicks open their token).
ROUTE_TARGETS = {
    "edge-click": (0.65, 15.0, 5.0),
    "edge-open": (0.80, 35.0, 4.0),
}
GRANIAN, FLASK = "granian", "flask"
EDGE_TARGETS = ("edge-click", "edge-open")
OTHER_WORK = 0.15  # share of a core not spent in our processes beyond which a run is flagged

Check = tuple[str, bool | None, str]  # (what, passed or None when not measured, detail)


@dataclass
class Measurement:
    """One target in one round: wrk's figures, plus the events found in Redis."""

    target: str
    label: str
    round: int
    result: WrkResult | None = None
    events: int | None = None
    graceful_stop: bool = True
    load_1m: float | None = None  # the machine's load average when the measured run started
    error: str | None = None


@dataclass(frozen=True)
class Summary:
    """One target over the rounds: medians of the rounds that succeeded."""

    target: str
    label: str
    rounds: list[Measurement]

    @property
    def results(self) -> list[WrkResult]:
        return [m.result for m in self.rounds if m.result is not None]

    def median(self, value: Callable[[WrkResult], float | None]) -> float | None:
        values = [v for v in (value(result) for result in self.results) if v is not None]
        return statistics.median(values) if values else None

    @property
    def requests_per_s(self) -> float | None:
        return self.median(lambda result: result.requests_per_s)

    @property
    def requests_per_cpu_s(self) -> float | None:
        return self.median(lambda result: result.requests_per_cpu_s)

    @property
    def p50_ms(self) -> float | None:
        return self.median(lambda result: result.p50_us / 1000)

    @property
    def p99_ms(self) -> float | None:
        return self.median(lambda result: result.p99_us / 1000)

    def cpu(self, name: str) -> float | None:
        return self.median(lambda result: result.cpu.get(name))


def summarize(measurements: Sequence[Measurement]) -> dict[str, Summary]:
    """Per target, in the order the targets first ran."""
    summaries: dict[str, Summary] = {}
    for m in measurements:
        if m.target not in summaries:
            rounds = [other for other in measurements if other.target == m.target]
            summaries[m.target] = Summary(m.target, m.label, rounds)
    return summaries


def _rps(summaries: dict[str, Summary], key: str) -> float | None:
    summary = summaries.get(key)
    return summary.requests_per_s if summary else None


def _per_cpu(summaries: dict[str, Summary], key: str) -> float | None:
    summary = summaries.get(key)
    return summary.requests_per_cpu_s if summary else None


def _ratio(value: float | None, reference: float | None, percent: bool = False) -> str:
    if value is None or not reference:
        return "n/a"
    return f"{value / reference:.0%}" if percent else f"{value / reference:.1f}x"


def _num(value: float | None, fmt: str, unit: str = "") -> str:
    return "n/a" if value is None else format(value, fmt) + unit


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table, aligned so that it also reads well in a terminal."""
    columns = zip(headers, *rows, strict=True)
    widths = [max(len(cell) for cell in column) for column in columns]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def results_table(summaries: dict[str, Summary]) -> str:
    """The headline: throughput and latency, and the ratios to the two baselines."""
    granian, flask = _rps(summaries, GRANIAN), _rps(summaries, FLASK)
    headers = ["target", "req/s", "p50", "p99", "vs bare granian", "vs Flask+Celery"]
    rows = [
        [
            s.label,
            _num(s.requests_per_s, ",.0f"),
            _num(s.p50_ms, ".2f", " ms"),
            _num(s.p99_ms, ".2f", " ms"),
            _ratio(s.requests_per_s, granian, percent=True),
            _ratio(s.requests_per_s, flask),
        ]
        for s in summaries.values()
    ]
    return table(headers, rows)


def cpu_table(summaries: dict[str, Summary]) -> str:
    """Where the CPU went, and the answers per CPU-second of the server side (server +
    redis), which hold up when other processes took part of the server's core."""
    granian, flask = _per_cpu(summaries, GRANIAN), _per_cpu(summaries, FLASK)
    headers = [
        "target",
        "server CPU",
        "redis CPU",
        "wrk CPU",
        "req per CPU-s",
        "vs bare granian",
        "vs Flask+Celery",
    ]
    rows = [
        [
            s.label,
            _num(s.cpu("server"), ".0%"),
            _num(s.cpu("redis"), ".0%"),
            _num(s.cpu("wrk"), ".0%"),
            _num(s.requests_per_cpu_s, ",.0f"),
            _ratio(s.requests_per_cpu_s, granian, percent=True),
            _ratio(s.requests_per_cpu_s, flask),
        ]
        for s in summaries.values()
    ]
    return table(headers, rows)


def rounds_table(
    measurements: Sequence[Measurement], server_core: int | None, client_core: int | None
) -> str:
    headers = [
        "round",
        "target",
        "req/s",
        "p50",
        "p99",
        "p99.9",
        "answered",
        "events",
        "bad answers",
        "conn errors",
        "graceful stop",
        "cores busy (server/wrk)",
        "load 1m",
    ]
    rows = [_round_row(m, server_core, client_core) for m in measurements]
    return table(headers, rows)


def _round_row(m: Measurement, server_core: int | None, client_core: int | None) -> list[str]:
    r = m.result
    if r is None:
        return [str(m.round), m.label, "FAILED", *[""] * 10]
    busy = [
        _num(r.core_busy.get(core) if core is not None else None, ".0%")
        for core in (server_core, client_core)
    ]
    return [
        str(m.round),
        m.label,
        f"{r.requests_per_s:,.0f}",
        f"{r.p50_us / 1000:.2f} ms",
        f"{r.p99_us / 1000:.2f} ms",
        f"{r.p999_us / 1000:.2f} ms",
        f"{r.requests:,}",
        "-" if m.events is None else f"{m.events:,}",
        f"{r.invalid_answers:,}",
        f"{r.connection_errors:,}",
        "yes" if m.graceful_stop else "NO (killed)",
        "/".join(busy),
        _num(m.load_1m, ".2f"),
    ]


def events_verdict(m: Measurement) -> tuple[bool, str]:
    """Every answered request has its event, and no event lacks a request.

    wrk stops its clock with up to one request per connection in flight; the server answers
    those too, so events may exceed wrk's count, by at most what wrk had in flight."""
    r = m.result
    if r is None or m.events is None:
        return False, "not measured"
    detail = f"{m.events:,} events vs {r.requests:,} answered"
    in_flight = r.sent - r.requests
    if m.events < r.requests:
        return False, f"{detail}: {r.requests - m.events:,} events missing"
    if m.events > r.sent:
        return False, f"{detail}: {m.events - r.sent:,} more events than requests sent"
    if m.events == r.requests:
        return True, detail
    extra = m.events - r.requests
    return True, f"{detail} (+{extra} answered after wrk's clock stopped; {in_flight} in flight)"


# The edge with revocation rules loaded (none matching) against the edge without: what the
# click path pays for the kill switch.
REVOCATIONS_TARGET = "edge-click-revocations"
TARGET_SHARE_WITH_REVOCATIONS = 0.95


def target_checks(summaries: dict[str, Summary]) -> list[Check]:
    checks: list[Check] = []
    for key in EDGE_TARGETS:
        if key in summaries:
            checks.extend(edge_checks(key, summaries[key], summaries))
    if REVOCATIONS_TARGET in summaries and "edge-click" in summaries:
        checks.append(revocation_check(summaries[REVOCATIONS_TARGET], summaries["edge-click"]))
    return checks


def revocation_check(with_rules: Summary, without: Summary) -> Check:
    rps, baseline = with_rules.requests_per_s, without.requests_per_s
    share = rps / baseline if rps and baseline else None
    cost = f"{(1 / rps - 1 / baseline) * 1e6:+.2f} µs a request" if rps and baseline else "n/a"
    return (
        f"{with_rules.label}: >= {TARGET_SHARE_WITH_REVOCATIONS:.0%} of the edge's click req/s",
        None if share is None else share >= TARGET_SHARE_WITH_REVOCATIONS,
        f"{_ratio(rps, baseline, percent=True)} ({cost})",
    )


def edge_checks(key: str, edge: Summary, summaries: dict[str, Summary]) -> list[Check]:
    rps, granian, flask = edge.requests_per_s, _rps(summaries, GRANIAN), _rps(summaries, FLASK)
    per_cpu = edge.requests_per_cpu_s
    granian_per_cpu, flask_per_cpu = _per_cpu(summaries, GRANIAN), _per_cpu(summaries, FLASK)
    share = rps / granian if rps is not None and granian else None
    times = rps / flask if rps is not None and flask else None
    p99 = edge.p99_ms
    target_share, target_times, target_p99 = ROUTE_TARGETS[key]
    checks: list[Check] = [
        (
            f"{edge.label}: >= {target_share:.0%} of bare granian's req/s",
            None if share is None else share >= target_share,
            f"{_ratio(rps, granian, percent=True)} "
            f"(per CPU-second: {_ratio(per_cpu, granian_per_cpu, percent=True)})",
        ),
        (
            f"{edge.label}: >= {target_times:.0f}x Flask+Celery's req/s",
            None if times is None else times >= target_times,
            f"{_ratio(rps, flask)} (per CPU-second: {_ratio(per_cpu, flask_per_cpu)})",
        ),
        (
            f"{edge.label}: p99 < {target_p99:.0f} ms at 64 connections",
            None if p99 is None else p99 < target_p99,
            _num(p99, ".2f", " ms"),
        ),
    ]
    for m in edge.rounds:
        if m.result is not None:
            verdict, detail = events_verdict(m)
            checks.append(
                (
                    f"{edge.label}: events in Redis = requests answered (round {m.round})",
                    verdict,
                    detail,
                )
            )
    bad = sum(r.invalid_answers + r.connection_errors for r in edge.results)
    checks.append(
        (f"{edge.label}: every answer valid, no connection error", bad == 0, f"{bad} bad")
    )
    return checks


def warnings(
    measurements: Sequence[Measurement], server_core: int | None, client_core: int | None
) -> list[str]:
    """Runs whose req/s says more about the machine or the load generator than the target."""
    notes = []
    for m in measurements:
        if m.result is not None:
            note = _limit_note(m.result, server_core, client_core)
            if note:
                notes.append(f"round {m.round}, {m.label}: {note}")
    return notes


def _limit_note(r: WrkResult, server_core: int | None, client_core: int | None) -> str:
    """Why the server side did not use its whole core, when it did not. A core's time not
    spent in our processes went to other processes or to interrupts (softirq)."""
    server_side = r.cpu.get("server", 0.0) + r.cpu.get("redis", 0.0)
    wrk = r.cpu.get("wrk", 0.0)
    if wrk >= 0.95:
        return f"wrk used {wrk:.0%} of its core: the load generator was the limit (a floor)"
    if server_side >= 0.8 or server_core is None or client_core is None:
        return ""
    elsewhere = r.core_busy.get(server_core, 0.0) - server_side
    if elsewhere > OTHER_WORK:
        return (
            f"server + redis used {server_side:.0%} of core {server_core}, which spent "
            f"{elsewhere:.0%} more on other processes or interrupts"
        )
    elsewhere = r.core_busy.get(client_core, 0.0) - wrk
    if elsewhere > OTHER_WORK:
        return (
            f"wrk used {wrk:.0%} of core {client_core}, which spent {elsewhere:.0%} more "
            "on other processes or interrupts: the load may have been short (a floor)"
        )
    return f"server + redis used {server_side:.0%} of a core, wrk {wrk:.0%}: neither was CPU-bound"


def checks_text(checks: Sequence[Check]) -> str:
    marks = {True: "PASS", False: "FAIL", None: "n/a "}
    return "\n".join(f"  [{marks[ok]}] {name}: {detail}" for name, ok, detail in checks)


# --- the whole report ---------------------------------------------------------------------
@dataclass(frozen=True)
class ReportLayout:
    """The run's settings the report needs."""

    rounds: int
    duration_s: int
    connections: int
    server_core: int | None
    client_core: int | None


def render_report(
    layout: ReportLayout,
    measurements: Sequence[Measurement],
    machine: dict[str, str],
    edge_available: bool,
) -> str:
    summaries = summarize(measurements)
    checks = target_checks(summaries)
    notes = warnings(measurements, layout.server_core, layout.client_core)
    sections = [
        f"Median of {layout.rounds} round(s), {layout.duration_s}s each, wrk -t1 "
        f"-c{layout.connections}, one worker per target; server + redis on core "
        f"{layout.server_core}, wrk on core {layout.client_core}:",
        results_table(summaries),
        "CPU (medians; share of one core over the measured run):",
        cpu_table(summaries),
        "Targets:\n" + (checks_text(checks) or "  n/a: the edge was not measured"),
        "Each round:",
        rounds_table(measurements, layout.server_core, layout.client_core),
        "Warnings:\n" + ("\n".join(f"  - {note}" for note in notes) or "  none"),
        "Machine:\n" + "\n".join(f"  {key}: {value}" for key, value in machine.items()),
    ]
    if not edge_available:
        sections.append("NOTE: `tracer edge` was not available: no edge figures in this run.")
    return "\n\n".join(sections)


def load_run(document: dict[str, Any]) -> tuple[ReportLayout, list[Measurement]]:
    """The layout and the measurements of a run, from its summary.json."""
    options = document["options"]
    layout = ReportLayout(
        rounds=int(options["rounds"]),
        duration_s=int(options["duration_s"]),
        connections=int(options["connections"]),
        server_core=_optional_int(options["server_core"]),
        client_core=_optional_int(options["client_core"]),
    )
    return layout, [_measurement(entry) for entry in document["measurements"]]


def _measurement(entry: dict[str, Any]) -> Measurement:
    result = entry.get("result")
    if result is not None:
        result = WrkResult(
            **{
                **result,
                "core_busy": {int(core): share for core, share in result["core_busy"].items()},
            }
        )
    return Measurement(**{**entry, "result": result})


def _optional_int(value: object) -> int | None:
    return None if value in (None, "None") else int(str(value))
