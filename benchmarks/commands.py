"""The command phase of benchmarks/ingest.py: what the person at the vehicle waits for.

One more Teltonika unit, run here, answers the gateway's Codec 12 commands as an FMB unit
does (``setdigout`` with the output's new level), and with ``stream_every`` sends a
one-record packet that often besides, so that a command can find ACKs owed to it. While it
is connected, the probe takes turns: POST /vehicles/{id}/commands/{disable|enable}-driving
over the admin socket, then GET /vehicles/{id}/state, each timed from request to response,
one after the other.
"""

from __future__ import annotations

import httpx
import trio

from benchmarks.brands import Teltonika
from drivers.teltonika import frames

COMMANDS = ("disable-driving", "enable-driving")


async def answering_unit(port: int, index: int, stream_every: float = 0, *,
                         task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Log in as unit ``index`` and answer every command until cancelled; with
    ``stream_every``, send a one-record packet every that many seconds meanwhile."""
    wire = Teltonika(index)
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream, trio.open_nursery() as nursery:
        buffer = bytearray()
        sending = trio.Lock()  # a packet and a command's answer never interleave

        async def send(data: bytes) -> None:
            async with sending:
                await stream.send_all(data)

        async def stream_packets() -> None:
            while True:
                await trio.sleep(stream_every)
                await send(wire.packet(1))

        async def take(size: int) -> bytes:
            while len(buffer) < size:
                data = await stream.receive_some(4096)
                if not data:
                    raise EOFError("the gateway closed the command unit's connection")
                buffer.extend(data)
            out = bytes(buffer[:size])
            del buffer[:size]
            return out

        await stream.send_all(wire.login())
        if await take(1) != b"\x01":
            raise RuntimeError("the gateway refused the command unit")
        # One record, so the vehicle has a state to read.
        await stream.send_all(wire.packet(1))
        await take(4)
        task_status.started()
        if stream_every:
            nursery.start_soon(stream_packets)
        while True:
            preamble = await take(4)
            if preamble != bytes(4):
                continue  # an ACK, 00000001 for these one-record packets; a Codec 12 packet's preamble is 00000000
            length = await take(4)
            rest = await take(int.from_bytes(length, "big") + frames.TRAILER_SIZE)
            text = frames.Codec12Packet.parse(preamble + length + rest).body.value.text.decode()
            levels = text.removeprefix("setdigout ")
            answer = f"DOUT{len(levels)}:{levels[-1]}"
            body = frames.Codec12Body.build({"type": frames.RESPONSE_TYPE, "text": answer.encode()})
            await send(frames.frame(body))


async def probe(socket: str, port: int, index: int, start_after: float, seconds: float, stream_every: float = 0) -> dict:
    """Command and state-read round trips (ms) for ``seconds``, after ``start_after``;
    ``stream_every``: the commanded unit's packet interval (0: it sends none)."""
    timings: dict[str, list[float]] = {"command": [], "state": []}
    vehicle = Teltonika.unit_id(index)
    transport = httpx.AsyncHTTPTransport(uds=socket)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=30) as api:
        vehicle_id = (await api.get("/vehicles", params={"q": vehicle})).json()["items"][0]["id"]
        async with trio.open_nursery() as nursery:
            await nursery.start(answering_unit, port, index, stream_every)
            await trio.sleep(start_after)
            stop = trio.current_time() + seconds
            turn = 0
            while trio.current_time() < stop:
                command = COMMANDS[turn % 2]
                turn += 1
                for name, request in (("command", api.post(f"/vehicles/{vehicle_id}/commands/{command}")),
                                      ("state", api.get(f"/vehicles/{vehicle_id}/state"))):
                    started = trio.current_time()
                    response = await request
                    if response.status_code != 200:
                        raise RuntimeError(f"{name}: {response.status_code} {response.text}")
                    timings[name].append((trio.current_time() - started) * 1000)
                await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    return {name: summary(values) for name, values in timings.items()}


def summary(values: list[float]) -> dict:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    return {"count": len(ordered), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": ordered[-1] if ordered else 0}
