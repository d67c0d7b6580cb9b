"""Logging to stderr, as text for people or JSON lines for collectors."""

from __future__ import annotations

import json
import logging
import sys

from gateway.clock import rfc3339
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def __init__(self, pid: bool = False) -> None:
        super().__init__()
        self.pid = pid

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": rfc3339(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.pid:
            entry["pid"] = record.process
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(level: str = "info", fmt: str = "text", *, pid: bool = False) -> None:
    """``pid``: each line names its process, for the supervisor and workers of `serve --workers N`."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(pid))
    else:
        process = "[%(process)d]" if pid else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)-7s %(name)s{process}: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # hypercorn logs each connection and httpx each cloud request at info: noise at fleet
    # scale (thousands of polls a minute), so they speak up from warning only.
    for noisy in ("gateway.admin.hypercorn", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
