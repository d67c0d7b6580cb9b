"""Guessing a JT/T 808 unit's authentication code: one attempt in flight per unit id, the
others hung up at once, and once failures engaged the brake a right code's answer waits as
long as a wrong one's."""

from __future__ import annotations

import threading

import pytest
import trio

from drivers.jt808 import frames
from tests.conftest import eventually, listener_port
from tests.gateway.seed import JT808_MODEL, unit_body
from tests.hostile.conftest import holds

UNIT = "013912345678"
GUESSERS = 100


@pytest.fixture
async def vehicle(api) -> dict:
    return (await api.post("/vehicles", json=unit_body("JT808", UNIT, JT808_MODEL, password="the-code"))).json()


async def authenticate(port: int, code: str) -> int | None:
    """The 0x8001 result for ``code``, or None when the gateway hangs up without one."""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(frames.frame(frames.AUTHENTICATION, UNIT, 1, code.encode()))
        reply = b""
        while reply.count(b"\x7e") < 2:
            data = await stream.receive_some(256)
            if not data:
                return None
            reply += data
    assert reply[1:3] == b"\x80\x01", reply.hex()
    return frames.unescape(reply[1:-1])[12:-1][4]


def refused(gateway, reason: str) -> float:
    return gateway.metrics.value("fleetgate_frames_refused_total", driver="jt808", reason=reason)


async def test_parallel_guesses_get_one_attempt_in_flight(gateway, vehicle):
    port = listener_port(gateway, "jt808")
    # Both read connections held: the first attempt stays in flight at its look-up while
    # all the others arrive, however slowly the machine runs them.
    release, holding = threading.Event(), threading.Semaphore(0)

    def hold(conn):
        holding.release()
        release.wait(20)

    results: list[int | None] = []

    async def guess(n: int) -> None:
        results.append(await authenticate(port, f"guess-{n}"))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(gateway.store.read, hold)
            for _ in range(2):
                await trio.to_thread.run_sync(holding.acquire)
            for n in range(GUESSERS):
                nursery.start_soon(guess, n)
            await eventually(lambda: holds(refused(gateway, "auth_in_flight") == GUESSERS - 1))
            release.set()
    assert sorted(results, key=str) == [1] + [None] * (GUESSERS - 1)  # one answer (wrong code), 99 hang-ups
    assert refused(gateway, "auth_failure") == 1


async def test_a_right_code_waits_as_long_as_a_wrong_one_once_the_brake_is_engaged(gateway, vehicle, mock_clock):
    """Virtual time: the brake's delays pass at once, and what passed is what was waited."""
    # The clock stood still while the gateway started; from here it jumps ahead whenever
    # everything waited for 50 real milliseconds. (A thread hop that takes longer only
    # adds time, so no wait below can look longer than it was by less than a brake step.)
    mock_clock.autojump_threshold = 0.05
    port = listener_port(gateway, "jt808")

    async def timed(code: str) -> tuple[int | None, float]:
        start = trio.current_time()
        result = await authenticate(port, code)
        return result, trio.current_time() - start

    with trio.fail_after(120):
        waits = [await timed(code) for code in ("wrong-1", "wrong-2", "wrong-3", "the-code")]
    assert [result for result, _ in waits] == [1, 1, 1, 0]
    # 0.5, 1, 2 s for the wrong codes; the right one after three failures waits 4 s, as a
    # fourth wrong code would.
    assert [wait >= delay for (_, wait), delay in zip(waits, (0.5, 1.0, 2.0, 4.0))] == [True] * 4
