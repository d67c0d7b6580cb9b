"""Storage faults: which errors mean the disk or the database file failed, and the
state the store is in while one lasts.

A fault is the environment's failure (a full file system, an I/O error, a read-only
mount, a file that is not a database), not a job's: a rule a job enforces or a bug in
its SQL fails that job alone and leaves the store healthy.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass

# SQLite's primary result codes for a file or disk that failed us.
_FAULT_CODES = frozenset({
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_BUSY,  # another process holds the write lock past busy_timeout
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CORRUPT,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOTADB,
})

# Free space the file system must have again before a store faulted by it commits again:
# SQLite can finish a small commit in the slack of a file's last block on a full disk,
# and a store that declared itself healthy on that would fault again at the next batch.
MIN_FREE_BYTES = 1 << 20


def is_fault(exc: BaseException) -> bool:
    """Whether a database error is the disk's or the file's failure."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _FAULT_CODES


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if exc.filename is None else f"{exc.strerror}: {exc.filename}"
    return str(exc) or type(exc).__name__


def check_free_space(directory: str) -> None:
    """Raise ENOSPC unless the file system holding ``directory`` has MIN_FREE_BYTES free."""
    stat = os.statvfs(directory)
    # root may use the blocks a file system reserves for it, as SQLite running as root does.
    blocks = stat.f_bfree if os.geteuid() == 0 else stat.f_bavail
    free = blocks * stat.f_frsize
    if free < MIN_FREE_BYTES:
        raise OSError(28, f"No space left on device ({free // 1024} KiB free)", directory)


@dataclass(frozen=True)
class Fault:
    kind: str  # what failed first: commit or checkpoint
    reason: str  # the database's or the system's own words
    since: str  # RFC 3339, when the store became faulted
