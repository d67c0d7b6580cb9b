"""Exclusive lock files held for a gateway's lifetime, naming their holder."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def hold(path: Path, refused: Callable[[str], Exception]):
    """flock ``path`` (created 0640 if missing) while the block runs, with our pid in it;
    if another process holds it, raise ``refused(its pid)``.

    The kernel drops the lock when the process dies however it dies, so a lock file left
    behind by a crash never blocks a restart; the file itself is never removed (removing
    it would let two processes lock two different files of the same name).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise refused(os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
