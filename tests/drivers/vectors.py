"""Loader for protocol_specs/<protocol>/*.json test vectors, shared by the driver tests.

A vector file holds ``{"protocol": ..., "vectors": [...]}``; each vector has a ``name``,
its ``source`` (vendor document section, or "fleetgate edge case ..."), the frame as
``hex`` and a ``direction``:

- ``from_unit``: bytes a unit sends. ``state`` names the codec state to feed them in (its
  meaning is the protocol's, e.g. "login" / "online"). Either ``expect`` (the decoded event
  as ``{"event": <class name>, ...}`` plus ``replies``: {outbound event class: hex}) or
  ``error``: the ProtocolError subclass from drivers.base; ``eof`` says the stream ends
  after the bytes.
- ``to_unit``: bytes the gateway must produce, e.g. for ``command_text``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import drivers.base as base

SPECS = Path(__file__).resolve().parents[2] / "protocol_specs"


@dataclass(frozen=True)
class Vector:
    name: str
    source: str
    direction: str
    data: bytes
    state: str | None = None
    expect: Mapping[str, Any] | None = None
    error: type[base.ProtocolError] | None = None
    eof: bool = False
    command_text: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:  # pytest ids
        return self.name

    @property
    def from_unit(self) -> bool:
        return self.direction == "from_unit"

    @property
    def valid(self) -> bool:
        return self.error is None


_KNOWN = {"name", "source", "direction", "hex", "state", "expect", "error", "eof", "command_text"}


def error_class(name: str) -> type[base.ProtocolError]:
    cls = getattr(base, name, None)
    if not (isinstance(cls, type) and issubclass(cls, base.ProtocolError)):
        raise ValueError(f"{name!r} is not a ProtocolError subclass of drivers.base")
    return cls


def load(protocol: str) -> list[Vector]:
    """Every vector in protocol_specs/<protocol>/*.json, in file then list order."""
    folder = SPECS / protocol
    vectors: list[Vector] = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        for raw in doc["vectors"]:
            if raw["direction"] not in ("from_unit", "to_unit"):
                raise ValueError(f"{path.name}: {raw['name']}: unknown direction {raw['direction']!r}")
            if not raw.get("source"):
                raise ValueError(f"{path.name}: {raw['name']}: every vector names its source")
            vectors.append(
                Vector(
                    name=raw["name"],
                    source=raw["source"],
                    direction=raw["direction"],
                    data=bytes.fromhex(raw["hex"]),
                    state=raw.get("state"),
                    expect=raw.get("expect"),
                    error=error_class(raw["error"]) if "error" in raw else None,
                    eof=bool(raw.get("eof", False)),
                    command_text=raw.get("command_text"),
                    extra={k: v for k, v in raw.items() if k not in _KNOWN},
                )
            )
    names = [v.name for v in vectors]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate vector names in {folder}: {sorted(duplicates)}")
    return vectors


def parse_time(text: str) -> datetime:
    """ISO 8601 with a trailing Z, as the vectors write device times."""
    if not text.endswith("Z"):
        raise ValueError(f"vector times are UTC with a trailing Z: {text!r}")
    return datetime.fromisoformat(text[:-1] + "+00:00")
