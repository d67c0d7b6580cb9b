"""How the CLI shows things to people: tables, state lines, JSON for scripts; and how it
reads a secret."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
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


def show_rows(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[tuple[str, str]], empty: str) -> None:
    """A table, or ``empty`` when there is nothing: a lone header reads like a fault."""
    show(args, rows, lambda items: table(items, columns) if items else empty)


MAX_PAGE = 500  # the API's largest page


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return int(text)


def collect(fetch: Callable[[int, str | None], dict], limit: int, token: str | None) -> list[dict[str, Any]]:
    """Up to ``limit`` items of a paged list, from ``token`` on; ``fetch(limit, token)`` gets a page.
    When more follow, stderr says how to read on."""
    items: list[dict[str, Any]] = []
    while True:
        page = fetch(min(limit - len(items), MAX_PAGE), token)
        items += page["items"]
        token = page.get("next_page_token")
        if not token or len(items) >= limit:
            break
    if token:
        print(f"fleetgate: more follow; read on with --page-token {token}", file=sys.stderr)
    return items


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
        try:
            return getpass.getpass(prompt)
        except (KeyboardInterrupt, EOFError):
            print(file=sys.stderr)  # the prompt's line is still open: the reason goes below it
            raise
    line = sys.stdin.readline()
    if not line:
        raise ClientError("expected the secret on standard input")
    return line.rstrip("\r\n")
