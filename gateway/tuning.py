"""Process-wide settings for thousands of connections, shared by the gateway and the
benchmark's load generator so that both run the way the measurements describe."""

from __future__ import annotations

import gc
import resource


def raise_open_file_limit() -> int:
    """Thousands of units need thousands of sockets: use the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def tune_garbage_collector() -> None:
    """Make the cycle collector rare and its full passes smaller.

    Nothing fleetgate does per packet builds reference cycles, yet each packet allocates
    a few dozen containers, so with CPython's default thresholds (700, 10, 10) the
    collector ran hundreds of times a second at 5,000 units, and its full passes over
    every session's objects stopped the event loop for 150-220 ms each: they, not the
    work, set the ACK p99 (benchmarks/ingest.py). Objects that exist at start (modules,
    config) are frozen out of every pass; sessions' cycles are still collected.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
