"""A JT/T 808 unit cannot keep a subpackaged message open by sending heartbeats between
its packages: the frame deadline runs from the first package until the message is whole."""

from __future__ import annotations

import pytest
import trio

from drivers.jt808 import frames
from tests.conftest import listener_port
from tests.drivers.vectors import load
from tests.gateway.seed import JT808_MODEL, unit_body

SUBPACKAGED = next(v for v in load("jt808") if v.name == "batch-subpackaged")
UNIT = SUBPACKAGED.extra["session"]["unit_id"]
HEARTBEAT_EVERY = 0.2  # the unit's own pace, well inside the 1 s frame deadline


@pytest.fixture
def extra_config() -> str:
    return "[sessions]\nframe_timeout = 1\nidle_timeout = 60\n"


class Terminal:
    def __init__(self, stream: trio.SocketStream):
        self.stream, self.serial, self._pending = stream, 0, b""

    async def send(self, message_id: int, body: bytes = b"", package: tuple[int, int] | None = None) -> None:
        self.serial += 1
        await self.stream.send_all(frames.frame(message_id, UNIT, self.serial, body, package=package))

    async def reply(self) -> bytes:
        """The next frame from the gateway; b"" once it closed the connection."""
        while self._pending.count(b"\x7e") < 2:
            try:
                data = await self.stream.receive_some(1024)
            except trio.BrokenResourceError:  # closed with our last frame unread: the kernel resets
                return b""
            if not data:
                return b""
            self._pending += data
        end = self._pending.index(b"\x7e", 1) + 1
        reply, self._pending = self._pending[:end], self._pending[end:]
        return reply


def platform_response(reply: bytes) -> tuple[int, int]:
    """(answered message id, result) of a 0x8001."""
    assert reply[1:3] == b"\x80\x01", reply.hex()
    body = frames.unescape(reply[1:-1])[12:-1]
    return int.from_bytes(body[2:4], "big"), body[4]


def refused(gateway, reason: str) -> float:
    return gateway.metrics.value("fleetgate_frames_refused_total", driver="jt808", reason=reason)


async def test_heartbeats_between_packages_do_not_extend_the_frame_deadline(gateway, api):
    await api.post("/vehicles", json=unit_body("JT808", UNIT, JT808_MODEL, password="pw-1"))
    stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "jt808"))
    unit = Terminal(stream)
    with trio.fail_after(10):
        await unit.send(frames.AUTHENTICATION, b"pw-1")
        assert platform_response(await unit.reply()) == (frames.AUTHENTICATION, 0)

        # A message whose packages finish in time, a heartbeat between them, is taken ...
        first, second = (b"\x7e" + part + b"\x7e" for part in SUBPACKAGED.data.strip(b"\x7e").split(b"\x7e\x7e"))
        await stream.send_all(first)
        await unit.send(frames.HEARTBEAT)
        assert platform_response(await unit.reply()) == (frames.HEARTBEAT, 0)
        await stream.send_all(second)
        assert platform_response(await unit.reply()) == (frames.BATCH, 0)
        assert platform_response(await unit.reply()) == (frames.BATCH, 0)  # one answer per package
        # ... and once it is whole, heartbeats alone keep the session open past the deadline.
        for _ in range(int(2 / HEARTBEAT_EVERY)):
            await unit.send(frames.HEARTBEAT)
            assert platform_response(await unit.reply()) == (frames.HEARTBEAT, 0)
            await trio.sleep(HEARTBEAT_EVERY)

        # Package 1 of 100, then heartbeats only: closed when the first package is 1 s old.
        await unit.send(frames.LOCATION, bytes(28), package=(100, 1))
        while True:
            try:
                await unit.send(frames.HEARTBEAT)
            except trio.BrokenResourceError:
                break
            reply = await unit.reply()
            if not reply:
                break
            assert platform_response(reply) == (frames.HEARTBEAT, 0)
            await trio.sleep(HEARTBEAT_EVERY)
    assert refused(gateway, "frame_timeout") == 1
    assert refused(gateway, "idle_timeout") == 0
    assert gateway.store.records_new == 2
