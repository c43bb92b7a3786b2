"""How well the classifier tells people from machines, on a labelled corpus of public
user agents (`bench/classify_data/`, provenance in its SOURCES.md).

    .venv/bin/python -m bench.classify                  # all figures, then the speed run
    .venv/bin/python -m bench.classify --no-speed       # accuracy only
    .venv/bin/python -m bench.classify --sample 5 --check   # every 5th row; exit 1 below target

Every row is scored twice, as `tracer classify --kind click` and `--kind open` would see
it (no address, GET, no timing), against what its category should get: a person's client
(browser, webview, mail client) must come out `human`; a mailbox image proxy must count as
a person on an open (`proxy`) and a machine on a click; Outlook desktop's Office user agent
is a person on an open and a link check on a click; everything else is a machine. A
verdict counts as a person when its agent is `human` or `proxy` (the default
`bot_policy.human_agents`). "Machine" is the positive class of precision, recall and F1.

Leave-one-source-out: the rows of a source whose own patterns Tracer vendors
(crawler-user-agents, crawlerdetect) are also scored with that list left out, so a list
is never graded on its own fixtures. Rows of the other sources are scored by the full
classifier in both columns (no list of theirs is vendored).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracer.classify import Classifier
from tracer.classify.patterns import SOURCES
from tracer.classify.useragents import UserAgents, build_user_agents

CORPUS = Path(__file__).resolve().parent / "classify_data" / "corpus.tsv"
KINDS = ("click", "open")
PERSON = frozenset({"human", "proxy"})
PERSON_CATEGORIES = ("browser", "webview", "mail-client", "office-mail-client")
EMAIL_CATEGORIES = frozenset(
    {"webview", "mail-client", "office-mail-client", "proxy", "mpp", "preview", "scanner"}
)
# Targets (leave-one-source-out), as the project set them.
TARGET_F1 = 0.98
TARGET_EMAIL_F1 = 0.97
TARGET_PERSON_FPR = 0.005


@dataclass(frozen=True)
class Row:
    source: str
    category: str
    ua: str


def machine_expected(category: str, kind: str) -> bool:
    if category in ("browser", "webview", "mail-client"):
        return False
    if category == "office-mail-client":
        return kind == "click"
    if category == "proxy":
        return kind == "click"
    return True


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, expected: bool, found: bool, row: Row, verdict: str) -> None:
        if expected and found:
            self.tp += 1
        elif expected:
            self.fn += 1
            self.misses.append((row.category, row.ua, verdict))
        elif found:
            self.fp += 1
            self.misses.append((row.category, row.ua, verdict))
        else:
            self.tn += 1

    @property
    def rows(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.rows if self.rows else 1.0


def load_corpus(path: Path = CORPUS, every: int = 1) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        source, category, ua = line.split("\t", 2)
        rows.append(Row(source, category, ua))
    return rows[::every]


def classifier_for(user_agents: UserAgents) -> Classifier:
    return Classifier(user_agents=user_agents)


def verdicts(classifier: Classifier, rows: Iterable[Row], kind: str) -> list[str]:
    """`agent reason,reason` of each row, as `tracer classify` prints them."""
    call = classifier.click if kind == "click" else classifier.open
    return [" ".join((v.agent, ",".join(v.reasons))) for v in (call("", r.ua, "GET") for r in rows)]


@dataclass
class Evaluation:
    """Scores per (kind, column, group): column "all" (every list) or "loso"."""

    scores: dict[tuple[str, str, str], Score] = field(default_factory=dict)
    rows: int = 0

    def score(self, kind: str, column: str, group: str) -> Score:
        return self.scores.setdefault((kind, column, group), Score())


def evaluate(rows: Sequence[Row]) -> Evaluation:
    full = classifier_for(build_user_agents())
    held_out = {
        source: classifier_for(build_user_agents([s for s in SOURCES if s != source]))
        for source in {row.source for row in rows}
        if source in SOURCES
    }
    evaluation = Evaluation(rows=len(rows))
    by_source: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_source[row.source].append(row)
    for kind in KINDS:
        for source, group in sorted(by_source.items()):
            columns = {"all": full, "loso": held_out.get(source, full)}
            for column, classifier in columns.items():
                for row, agent in zip(group, verdicts(classifier, group, kind), strict=True):
                    expected = machine_expected(row.category, kind)
                    found = agent.partition(" ")[0] not in PERSON
                    for name in _groups(row):
                        evaluation.score(kind, column, name).add(expected, found, row, agent)
    return evaluation


def _groups(row: Row) -> list[str]:
    groups = ["overall", f"source:{row.source}", f"category:{row.category}"]
    if row.category in EMAIL_CATEGORIES:
        groups.append("email")
    if row.category in PERSON_CATEGORIES:
        groups.append("people")
    return groups


def report(evaluation: Evaluation, out=sys.stdout) -> None:
    """Markdown tables, per kind: every group with all lists, then leave-one-source-out."""
    groups = sorted({g for _, _, g in evaluation.scores}, key=_group_order)
    for kind in KINDS:
        print(f"\n### `--kind {kind}` ({evaluation.rows:,} user agents)\n", file=out)
        print("| group | rows | P | R | F1 | P (LOSO) | R (LOSO) | F1 (LOSO) | "
              "people as machines (LOSO) |", file=out)  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|", file=out)
        for group in groups:
            full = evaluation.score(kind, "all", group)
            loso = evaluation.score(kind, "loso", group)
            people = loso.fp + loso.tn
            fpr = f"{loso.fp} of {people:,} ({loso.false_positive_rate:.2%})" if people else "-"
            print(
                f"| {group} | {full.rows:,} | {_figure(full.precision, full)} | "
                f"{_figure(full.recall, full, recall=True)} | {_figure(full.f1, full)} | "
                f"{_figure(loso.precision, loso)} | {_figure(loso.recall, loso, recall=True)} | "
                f"{_figure(loso.f1, loso)} | {fpr} |",
                file=out,
            )


def _figure(value: float, score: Score, recall: bool = False) -> str:
    """A ratio, or "-" where the group has no machine (a group of people only)."""
    if score.tp + score.fn == 0:
        return "-"
    return f"{value:.4f}"


def _group_order(group: str) -> tuple[int, str]:
    order = {"overall": 0, "email": 1, "people": 2}
    return (order.get(group, 3 if group.startswith("source:") else 4), group)


def email_checks(rows: Sequence[Row]) -> dict[str, tuple[int, int]]:
    """(counted as people, rows) on opens for the clients the targets name."""
    classifier = classifier_for(build_user_agents())
    mail = ("mail-client", "office-mail-client")

    def apple_mail(row: Row) -> bool:
        webkit = "AppleWebKit" in row.ua and "Safari" not in row.ua
        return row.category in mail and (row.ua.startswith("Mail/") or webkit)

    wanted = {
        "mailbox-proxy opens counted as people": lambda r: r.category == "proxy",
        "Outlook desktop opens counted as people": lambda r: r.category == "office-mail-client",
        "Outlook mobile opens counted as people": lambda r: (
            r.category in mail and r.ua.startswith("Outlook-")
        ),
        "Apple Mail opens counted as people": apple_mail,
        "Thunderbird opens counted as people": lambda r: (
            r.category in mail and "Thunderbird/" in r.ua
        ),
    }
    checks = {}
    for name, chosen in wanted.items():
        group = [r for r in rows if chosen(r)]
        agents = verdicts(classifier, group, "open")
        checks[name] = (sum(a.partition(" ")[0] in PERSON for a in agents), len(group))
    return checks


def failures(evaluation: Evaluation, checks: dict[str, tuple[int, int]]) -> list[str]:
    found = []
    for kind in KINDS:
        overall = evaluation.score(kind, "loso", "overall")
        email = evaluation.score(kind, "loso", "email")
        people = evaluation.score(kind, "loso", "people")
        if overall.f1 < TARGET_F1:
            found.append(f"{kind}: F1 {overall.f1:.4f} < {TARGET_F1}")
        if email.f1 < TARGET_EMAIL_F1:
            found.append(f"{kind}: email/SMS F1 {email.f1:.4f} < {TARGET_EMAIL_F1}")
        if people.false_positive_rate > TARGET_PERSON_FPR:
            found.append(
                f"{kind}: people as machines {people.false_positive_rate:.2%} > "
                f"{TARGET_PERSON_FPR:.1%}"
            )
    for name, (people, total) in checks.items():
        if people != total:
            found.append(f"{name}: {people} of {total}")
    return found


def print_misses(evaluation: Evaluation, limit: int) -> None:
    for kind in KINDS:
        misses = evaluation.score(kind, "loso", "overall").misses
        print(f"\n{kind}: {len(misses)} wrong (leave-one-source-out)")
        for category, ua, agent in misses[:limit]:
            print(f"  {category:18} -> {agent:40} {ua[:140]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=1, help="score every Nth row only")
    parser.add_argument("--check", action="store_true", help="exit 1 when below a target")
    parser.add_argument("--misses", type=int, default=0, help="list up to N wrong rows")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed run")
    args = parser.parse_args(argv)
    rows = load_corpus(every=args.sample)
    sources = Counter(row.source for row in rows)
    print(
        f"corpus: {len(rows):,} user agents ({', '.join(f'{s} {n:,}' for s, n in sources.items())})"
    )
    evaluation = evaluate(rows)
    report(evaluation)
    checks = email_checks(rows)
    print()
    for name, (people, total) in checks.items():
        print(f"- {name}: {people} of {total}")
    if args.misses:
        print_misses(evaluation, args.misses)
    problems = failures(evaluation, checks)
    for problem in problems:
        print(f"BELOW TARGET: {problem}")
    if not args.no_speed:
        from bench import classify_speed

        classify_speed.main([])
    return 1 if problems and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
