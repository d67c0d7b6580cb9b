"""A scripted Teltonika unit on a raw socket, for tests that need to control every byte:
when it answers, what it answers, and what garbage it sends."""

from __future__ import annotations

import trio

from drivers.teltonika import frames


class ScriptedUnit:
    def __init__(self, stream: trio.SocketStream, imei: str):
        self.stream, self.imei = stream, imei
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, port: int, imei: str) -> ScriptedUnit:
        return cls(await trio.open_tcp_stream("127.0.0.1", port), imei)

    async def login(self) -> bytes:
        await self.stream.send_all(frames.ImeiPacket.build({"imei": self.imei.encode()}))
        return await self.read_exactly(1)

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            data = await self.stream.receive_some(4096)
            if not data:
                raise EOFError(f"closed with {bytes(self.buffer).hex()} buffered")
            self.buffer += data
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out

    async def read_command(self) -> str:
        header = await self.read_exactly(frames.HEADER_SIZE)
        rest = await self.read_exactly(int.from_bytes(header[4:8], "big") + frames.TRAILER_SIZE)
        parsed = frames.Codec12Packet.parse(header + rest).body.value
        assert parsed.type == frames.COMMAND_TYPE
        return parsed.text.decode()

    async def answer(self, text: str) -> None:
        body = frames.Codec12Body.build({"type": frames.RESPONSE_TYPE, "text": text.encode()})
        await self.stream.send_all(frames.frame(body))

    async def closed_by_gateway(self) -> bytes:
        """Everything the gateway sent until it closed the connection."""
        received = bytes(self.buffer)
        while True:
            try:
                data = await self.stream.receive_some(4096)
            except trio.BrokenResourceError:  # reset instead of FIN
                return received
            if not data:
                return received
            received += data


def avl_packet(*records: dict) -> bytes:
    """A Codec 8 packet of records given as {"ms", "lat", "lon", "sats", "io": {id: value}}."""
    built = []
    for r in records:
        io = r.get("io", {})
        groups = {"n1": [], "n2": [], "n4": [], "n8": []}
        for io_id, value in io.items():
            size = "n1" if value < 1 << 8 else "n2" if value < 1 << 16 else "n4" if value < 1 << 32 else "n8"
            groups[size].append({"id": io_id, "value": value})
        built.append(frames.Record8.build({
            "timestamp": r["ms"], "priority": 0,
            "gps": {"longitude": round(r.get("lon", 0) * 1e7), "latitude": round(r.get("lat", 0) * 1e7),
                    "altitude": 100, "angle": 0, "satellites": r.get("sats", 8), "speed": r.get("speed", 0)},
            "io": {"event_io": 0, "total": len(io), **groups},
        }))
    body = bytes([frames.CODEC_8, len(built)]) + b"".join(built) + bytes([len(built)])
    return frames.frame(body)
