"""Helpers of the hostile tests."""

from __future__ import annotations


async def holds(value) -> bool:
    """For ``eventually``, which awaits its check: ``eventually(lambda: holds(x > 1))``."""
    return bool(value)
