"""Disks that fail on demand, for the storage-fault tests.

Where this machine lets the tests mount file systems (root, or CAP_SYS_ADMIN), the
gateway's data dir is a small tmpfs that a filler file makes really full, and a remount
makes really read-only. Elsewhere the same faults are injected into sqlite3: every
connection opened while the injection is installed raises SQLite's own error at COMMIT
and at checkpoints, as a full disk makes it do. ``kind`` says which one ran.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.process import fleetgate_command

FULL = (sqlite3.SQLITE_FULL, "database or disk is full")
READ_ONLY = (sqlite3.SQLITE_READONLY, "attempt to write a readonly database")
IO_ERROR = (sqlite3.SQLITE_IOERR, "disk I/O error")

TMPFS_SIZE = 64 << 20  # bytes: room for the gateway's files under a streaming fleet
FORCE_INJECTION = "FLEETGATE_TEST_INJECT_FAULTS"  # set to 1 to test the fallback where mounting works


class Injection:
    """Makes sqlite3 connections fail as a faulty disk would, while ``error`` is set: at
    the COMMIT of a write transaction (``on_commit``; the gateway begins every one with
    BEGIN IMMEDIATE, and a read's COMMIT writes nothing), in ``PRAGMA wal_checkpoint``
    (``on_checkpoint``) and, if asked, in the SELECTs of reads (``on_read``)."""

    def __init__(self) -> None:
        self.error: tuple[int, str] | None = None
        self.on_commit = self.on_checkpoint = True
        self.on_read = False
        self._connect = sqlite3.connect

    def install(self) -> None:
        sqlite3.connect = self.connect

    def uninstall(self) -> None:
        sqlite3.connect = self._connect

    def connect(self, *args, factory=sqlite3.Connection, **kwargs):
        injection = self

        class Failing(factory):
            writing = False

            def execute(self, sql, *params):
                statement = sql.lstrip().upper()
                if statement.startswith("BEGIN"):
                    self.writing = statement.startswith("BEGIN IMMEDIATE")
                injection.check(statement, self.writing)
                return super().execute(sql, *params)

        return self._connect(*args, factory=Failing, **kwargs)

    def check(self, statement: str, writing: bool) -> None:
        if self.error is None:
            return
        if (self.on_commit and writing and statement.startswith("COMMIT")) or (
                self.on_checkpoint and statement.startswith("PRAGMA WAL_CHECKPOINT")) or (
                self.on_read and not writing and statement.startswith("SELECT")):
            code, message = self.error
            exc = sqlite3.OperationalError(message)
            exc.sqlite_errorcode, exc.sqlite_errorname = code, "injected"
            raise exc


_ERRORS = {"FULL": FULL, "READ_ONLY": READ_ONLY, "IO_ERROR": IO_ERROR}
# `fleetgate ARGS` in a process whose sqlite3 fails with the error named first.
_INJECTED_MAIN = (
    "import sys; from tests.hostile.disk import Injection, _ERRORS; injection = Injection();"
    " injection.error = _ERRORS[sys.argv[1]]; injection.install();"
    " from gateway.cli import main; sys.exit(main(sys.argv[2:]))"
)


def mount_tmpfs(path: Path, size: int = TMPFS_SIZE) -> str | None:
    """Mount a tmpfs at ``path``; None when done, else why it could not be."""
    if os.environ.get(FORCE_INJECTION) == "1":
        return f"{FORCE_INJECTION}=1"
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if result.returncode == 0 else (result.stderr.strip() or f"mount exited {result.returncode}")


def unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, timeout=10).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


class Disk:
    """The data dir's disk: ``path`` lives on it; fill(), free(), read_only(), writable()."""

    def __init__(self, path: Path, injection: Injection | None):
        self.path = path
        self.injection = injection
        self.kind = "injected sqlite3 errors" if injection else "tmpfs"
        self._filler = path / "filler"

    def command(self, *args: str) -> list[str]:
        """The command line of `fleetgate ARGS` on this disk as it is now (run it from the
        repository's root: an injected fault needs the tests package)."""
        if self.injection is None or self.injection.error is None:
            return fleetgate_command(*args)
        name = next(name for name, error in _ERRORS.items() if error == self.injection.error)
        return [sys.executable, "-c", _INJECTED_MAIN, name, *args]

    def fill(self) -> None:
        if self.injection is not None:
            self.injection.error = FULL
            return
        # Halving chunks down to one byte: not even the slack of a partly used page stays free.
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = 1 << 20
            while chunk:
                try:
                    os.write(fd, bytes(chunk))
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    chunk //= 2
        finally:
            os.close(fd)

    def free(self) -> None:
        if self.injection is not None:
            self.injection.error = None
        else:
            self._filler.unlink()

    def read_only(self) -> None:
        if self.injection is not None:
            self.injection.error = READ_ONLY
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True, capture_output=True, timeout=10)

    def writable(self) -> None:
        if self.injection is not None:
            self.injection.error = None
        else:
            subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True, capture_output=True, timeout=10)
