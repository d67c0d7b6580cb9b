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
        self._read: dict[str, Callable[[], list[tuple[dict[str, str], float]]]] = {}

    def counter(
        self, name: str, help_text: str, read: Callable[[], list[tuple[dict[str, str], float]]] | None = None
    ) -> None:
        """A counter: either ``inc``-ed by its owner or, with ``read``, read from the
        component that counts it when /metrics is rendered."""
        self._help[name] = ("counter", help_text)
        if read is not None:
            self._read[name] = read

    def gauge(
        self, name: str, help_text: str, read: Callable[[], list[tuple[dict[str, str], float]]] | None = None
    ) -> None:
        """A gauge: either ``set`` by its owner or, with ``read``, read when /metrics is
        rendered (``read()`` returns (labels, value) pairs)."""
        self._help[name] = ("gauge", help_text)
        if read is not None:
            self._read[name] = read

    def set(self, name: str, value: float, **labels: str) -> None:
        self._values[name][tuple(sorted(labels.items()))] = value

    def series(self, name: str, **labels: str) -> Callable[..., None]:
        """An incrementer for one labelled series, for hot paths: the label key is built once."""
        key = tuple(sorted(labels.items()))
        values = self._values[name]

        def inc(amount: float = 1) -> None:
            values[key] = values.get(key, 0) + amount

        return inc

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
            if name in self._read:
                samples = [(tuple(sorted(labels.items())), value) for labels, value in self._read[name]()]
            else:
                samples = sorted(self._values[name].items())
            for labels, value in samples:
                shown = int(value) if float(value).is_integer() else value
                lines.append(f"{name}{_labels(labels)} {shown}")
        return "\n".join(lines) + "\n"
