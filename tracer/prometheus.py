"""The one writer of Prometheus text (exposition format 0.0.4) for every role's `/metrics`:
families with their HELP and TYPE lines, samples with escaped labels, cumulative
histograms, and the standard `process_*` series (`tracer.process_metrics`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, object] | None


class Exposition:
    """Lines of Prometheus text, built family by family."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        """Start a family: `kind` is counter, gauge or histogram."""
        self.lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: Labels = None) -> None:
        self.lines.append(f"{name}{_labels(labels)} {format_value(value)}")

    def single(self, name: str, kind: str, help_text: str, value: float) -> None:
        """A family of one unlabelled sample."""
        self.family(name, kind, help_text)
        self.sample(name, value)

    def histogram(
        self,
        name: str,
        bounds: Sequence[float],
        counts: Sequence[float],
        total: float,
        labels: Labels = None,
    ) -> None:
        """The samples of one histogram series: `counts` per bucket (not cumulative),
        one more than `bounds` (the last for values above every bound); `total` is the
        sum of the observed values. Call `family` first."""
        extra = dict(labels or {})
        cumulative = 0.0
        for bound, count in zip((*bounds, float("inf")), counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            self.sample(f"{name}_bucket", cumulative, {**extra, "le": le})
        self.sample(f"{name}_sum", total, labels)
        self.sample(f"{name}_count", cumulative, labels)

    def extend(self, lines: Iterable[str]) -> None:
        self.lines.extend(lines)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def format_value(value: float) -> str:
    """Integers as integers (a counter past a million keeps every digit), other floats as
    the shortest text that reads back the same."""
    if isinstance(value, int):
        return str(value)
    if value != value:  # NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def escape(value: object) -> str:
    """A label value as the format requires: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels.items()) + "}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")
