"""deploy/fleetgate.example.toml: every key with its default, generated from the config
model and kept equal to it; `fleetgate config check` and `config example`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import trio
from pydantic import BaseModel

from gateway.config import Config, load_config
from gateway.config_example import example
from tests.conftest import TEST_TIMEOUT
from tests.process import run_cli

EXAMPLE = Path(__file__).parents[2] / "deploy" / "fleetgate.example.toml"


def test_the_committed_example_is_the_generated_one():
    # On a difference: `fleetgate config example > deploy/fleetgate.example.toml`.
    assert EXAMPLE.read_text() == example()


def _keys(model: BaseModel, prefix: str = "") -> set[str]:
    keys = set()
    for name in type(model).model_fields:
        value = getattr(model, name)
        keys |= _keys(value, f"{prefix}{name}.") if isinstance(value, BaseModel) else {prefix + name}
    return keys


def test_the_example_has_every_key_and_loads_as_the_defaults():
    text = EXAMPLE.read_text()
    set_keys = _keys_of_toml(tomllib.loads(text))
    # keys whose default derives from another key, or that are unset by default, are there
    # commented out, in their table
    table, commented = "", set()
    for line in text.splitlines():
        if header := re.fullmatch(r"\[(\S+)\]", line):
            table = header.group(1) + "."
        elif key := re.fullmatch(r"# (\w+) = .+", line):
            commented.add(table + key.group(1))
    assert set_keys | commented == _keys(Config()) and not set_keys & commented
    assert commented == {"admin.socket", "drivers.niu.account_url", "drivers.niu.app_url",
                         "api.tls_cert", "api.tls_key", "secrets.key_file"}
    assert load_config(EXAMPLE) == load_config(None)


def _keys_of_toml(table: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in table.items():
        keys |= _keys_of_toml(value, f"{prefix}{name}.") if isinstance(value, dict) else {prefix + name}
    return keys


async def test_config_check_and_example(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[drivers.gt06]\nport = "many"\n')
    with trio.fail_after(TEST_TIMEOUT):
        done = await run_cli("config", "check", str(EXAMPLE))
        checked, served = await run_cli("config", "check", str(bad)), await run_cli("serve", "--config", str(bad))
        example_printed = await run_cli("config", "example")
    assert (done.returncode, done.stdout.decode()) == (0, f"{EXAMPLE}: ok\n")
    assert checked.returncode == served.returncode == 2
    assert checked.stderr == served.stderr
    assert checked.stderr.decode() == (f"fleetgate: config error: {bad}: drivers.gt06.port: Input should be a valid "
                                       "integer, unable to parse string as an integer\n")
    assert example_printed.stdout.decode() == example()
