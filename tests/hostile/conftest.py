"""A data dir on a disk the test can make fail (disk.py), and which kind of disk ran."""

from __future__ import annotations

import pytest

from tests.hostile.disk import Disk, Injection, mount_tmpfs, unmount

_kinds: set[str] = set()


@pytest.fixture
def disk(short_dir):
    path = short_dir / "disk"
    path.mkdir()
    refused = mount_tmpfs(path)
    if refused is None:
        _kinds.add("a real tmpfs, filled or remounted read-only")
        yield Disk(path, None)
        unmount(path)
        return
    _kinds.add(f"sqlite3 errors injected at COMMIT and checkpoints (no tmpfs: {refused})")
    injection = Injection()
    injection.install()
    try:
        yield Disk(path, injection)
    finally:
        injection.uninstall()


async def holds(value) -> bool:
    """For ``eventually``, which awaits its check: ``eventually(lambda: holds(x > 1))``."""
    return bool(value)


def pytest_terminal_summary(terminalreporter):
    for kind in sorted(_kinds):
        terminalreporter.write_line(f"tests/hostile storage faults ran on {kind}")
