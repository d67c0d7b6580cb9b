"""Starting on a bad disk is one line on stderr and exit code 1, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from gateway.app import DATABASE_FILE, data_dir_lock
from gateway.secrets import KEY_FILE, SecretBox
from gateway.store import Store
from tests.conftest import gateway_config_toml

REPOSITORY = Path(__file__).parents[2]


@pytest.fixture
def config(disk, tmp_path, short_dir) -> Path:
    """A data dir on ``disk`` as an earlier run left it: its key and its database."""
    data_dir = disk.path / "data"
    with data_dir_lock(data_dir):
        SecretBox.open(data_dir / KEY_FILE)
        Store(data_dir / DATABASE_FILE).close()
    path = tmp_path / "fleetgate.toml"
    path.write_text(gateway_config_toml(data_dir, short_dir / "admin.sock"))
    return path


def not_a_database(disk) -> None:
    (disk.path / "data" / DATABASE_FILE).write_bytes(os.urandom(4096))


@pytest.mark.parametrize("spoil,expected", [
    (lambda disk: disk.fill(), ("No space left on device", "database or disk is full")),
    (lambda disk: disk.read_only(), ("Read-only file system", "attempt to write a readonly database")),
    (not_a_database, ("file is not a database",)),
], ids=["full", "read-only", "not-a-database"])
async def test_starting_on_a_bad_disk_is_one_line_and_exit_1(disk, config, spoil, expected):
    spoil(disk)
    with trio.fail_after(30):
        result = await trio.run_process(disk.command("serve", "--config", str(config)), cwd=REPOSITORY,
                                        capture_stdout=True, capture_stderr=True, check=False)
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("fleetgate: cannot start: "), lines
    assert any(reason in lines[0] for reason in expected), lines
    assert not (config.parent / "admin.sock").exists()
