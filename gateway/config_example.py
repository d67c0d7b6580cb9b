"""The example config file: every key of gateway/config.py with its default and its
description, rendered from the model. deploy/fleetgate.example.toml is this text; a test
keeps the two equal, so the file cannot drift from the code."""

from __future__ import annotations

import json
import textwrap
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gateway.config import Config

HEADER = """\
# fleetgate configuration: every key with its default. Every key is optional: delete what
# you keep at its default. Check a file with `fleetgate config check FILE`; run the gateway
# with `fleetgate serve --config FILE`. Generated from gateway/config.py
# (`fleetgate config example`); keys with a derived default are commented out.
"""
WIDTH = 100


def example() -> str:
    lines = [*HEADER.splitlines(), ""]
    _table(Config(), [], lines)
    return "\n".join(lines) + "\n"


def _table(model: BaseModel, path: list[str], lines: list[str]) -> None:
    """The model's own keys, then one table per nested model ([drivers.gt06])."""
    fields = type(model).model_fields
    for name, info in fields.items():
        value = getattr(model, name)
        if not isinstance(value, BaseModel):
            lines += _comment(_description(info))
            if value is None:  # a default derived from another key: what a value looks like
                lines.append(f"# {name} = {_toml(info.examples[0])}")
            else:
                lines.append(f"{name} = {_toml(value)}")
    for name, info in fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            table = [*path, name]
            has_keys = any(not isinstance(getattr(value, n), BaseModel) for n in type(value).model_fields)
            if has_keys:
                lines += ["", *_comment(info.description or ""), f"[{'.'.join(table)}]"]
            else:  # a table of tables: its description goes before the first of them
                lines += ["", *_comment(info.description or "")]
            _table(value, table, lines)


def _description(info: FieldInfo) -> str:
    text = info.description or ""
    choices = typing.get_args(info.annotation) if typing.get_origin(info.annotation) is typing.Literal else ()
    if choices:
        text += f" One of: {', '.join(map(str, choices))}."
    return text


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="# ", subsequent_indent="# ") if text else []


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string: the same escapes
