"""Counters and gauges rendered in the Prometheus text format for GET /metrics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    escaped = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels)
    return "{" + escaped + "}"


class Metrics:
    def __init__(self) -> None:
        self._help: dict[str, tuple[str, str]] = {}
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._gauges: dict[str, Callable[[], list[tuple[dict[str, str], float]]]] = {}

    def counter(self, name: str, help_text: str) -> None:
        self._help[name] = ("counter", help_text)

    def gauge(
        self, name: str, help_text: str, read: Callable[[], list[tuple[dict[str, str], float]]] | None = None
    ) -> None:
        """A gauge: either ``set`` by its owner or, with ``read``, read when /metrics is
        rendered (``read()`` returns (labels, value) pairs)."""
        self._help[name] = ("gauge", help_text)
        if read is not None:
            self._gauges[name] = read

    def set(self, name: str, value: float, **labels: str) -> None:
        self._values[name][tuple(sorted(labels.items()))] = value

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self._values[name]
        series[key] = series.get(key, 0) + amount

    def value(self, name: str, **labels: str) -> float:
        return self._values[name].get(tuple(sorted(labels.items())), 0)

    def render(self) -> str:
        lines = []
        for name, (kind, help_text) in sorted(self._help.items()):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            if name in self._gauges:
                samples = [(tuple(sorted(labels.items())), value) for labels, value in self._gauges[name]()]
            else:
                samples = sorted(self._values[name].items())
            for labels, value in samples:
                shown = int(value) if float(value).is_integer() else value
                lines.append(f"{name}{_labels(labels)} {shown}")
        return "\n".join(lines) + "\n"
