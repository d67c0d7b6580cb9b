"""Units that keep count of what the gateway acknowledged, to hold it to its word."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import trio

from gateway.clock import rfc3339

from tests.teltonika_unit import ScriptedUnit, avl_packet

RECONNECT_DELAY = 0.2  # seconds between a lost link and the next login


class StreamingUnit:
    """A Teltonika unit sending one record per packet, one packet at a time, every
    ``interval`` seconds. Like a real unit it keeps a record until the gateway's count
    covers it and sends it again on the next link; unlike one, it remembers the device
    time of every record the gateway acknowledged."""

    def __init__(self, port: int, imei: str, interval: float):
        self.port, self.imei, self.interval = port, imei, interval
        self.acked: list[int] = []  # device times (ms) of acknowledged records
        self.links_lost = 0  # connections that ended: refused, closed or reset
        self._pending: int | None = None
        self._last_ms = 0

    async def run(self) -> None:
        while True:
            try:
                unit = await ScriptedUnit.connect(self.port, self.imei)
                async with unit.stream:
                    if await unit.login() == b"\x01":
                        await self._stream(unit)
            except (EOFError, OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            self.links_lost += 1
            await trio.sleep(RECONNECT_DELAY)

    async def _stream(self, unit: ScriptedUnit) -> None:
        while True:
            if self._pending is None:
                self._pending = self._last_ms = max(self._last_ms + 1, int(time.time() * 1000))
            await unit.stream.send_all(avl_packet({"ms": self._pending, "lat": 54.6872, "lon": 25.2797}))
            if int.from_bytes(await unit.read_exactly(4), "big") == 1:
                self.acked.append(self._pending)
                self._pending = None
            await trio.sleep(self.interval)  # the unit's own pace, not a wait for the gateway


async def assert_acked_stored_once(store, units: list[StreamingUnit]) -> Counter:
    """Every record the gateway acknowledged to ``units`` is stored, once; returns the
    stored (unit id, device time) pairs with their counts."""
    stored = Counter(await store.read(
        lambda conn: [tuple(row) for row in conn.execute("SELECT unit_id, recorded_at FROM records")]))
    for unit in units:
        for ms in unit.acked:
            assert stored[(unit.imei, rfc3339(datetime.fromtimestamp(ms / 1000, UTC)))] == 1, (unit.imei, ms)
    return stored
