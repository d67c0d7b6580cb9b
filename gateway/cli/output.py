"""How the CLI shows things to people: tables, state lines, JSON for scripts; and how it
reads a secret."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from gateway.client import ClientError


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """Rows as aligned columns; ``columns`` are (heading, dotted key)."""

    def cell(row: dict[str, Any], key: str) -> str:
        value: Any = row
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, list):
            return ",".join(map(str, value))
        return "" if value is None else str(value)

    cells = [[cell(row, key) for _, key in columns] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, (h, _) in enumerate(columns)]
    lines = ["  ".join(h.upper().ljust(w) for (h, _), w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def show(args: argparse.Namespace, value: Any, human) -> None:
    if args.json:
        print(json.dumps(value, indent=2))
    else:
        print(human(value))


def state_lines(state: dict[str, Any]) -> str:
    if not state:
        return "no state reported yet"
    width = max(len(name) for name in state)
    lines = []
    for name, entry in state.items():
        value = entry["value"]
        if isinstance(value, dict) and {"lat", "lon"} <= set(value):
            value = f"{value['lat']:.6f}, {value['lon']:.6f}"
        lines.append(f"{name:<{width}}  {value!s:<24} at {entry['timestamp']}")
    return "\n".join(lines)


def read_secret(prompt: str) -> str:
    """From a prompt at a terminal, else the first line of stdin: never from argv,
    where it would sit in shell history and the process list."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        raise ClientError("expected the secret on standard input")
    return line.rstrip("\r\n")
