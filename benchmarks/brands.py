"""The three TCP brands as benchmarks/loadgen.py's units speak them, and as the bare server
(benchmarks/echo_server.py) frames and acknowledges them.

A unit's frames come from the simulators' encoders (simulators/gt06.py, simulators/jt808.py):
each unit builds its location once with construct, and every packet patches the few bytes
that change (device time, mileage, serial) and recomputes the checksum. Building each packet
with construct would cost the load generator more CPU than the gateway spends on it, on the
same two cores. The mileage grows by one per packet, so no packet is a resend of another.
"""

from __future__ import annotations

import struct
import time
from datetime import datetime, timedelta, timezone

from drivers.gt06 import frames as gt06
from drivers.jt808 import frames as jt808
from drivers.teltonika.frames import crc16_ibm
from simulators import gt06 as gt06_sim
from simulators import jt808 as jt808_sim

FIRST_IMEI = 350000000000000
_RECORD = struct.Struct(">QBiiHHBHBB" + "BBBBB" + "BBB")  # N1 = 2 one-byte IO elements, N2 = N4 = N8 = 0
_JT808_TZ = timezone(timedelta(hours=8))  # the standard's device time


def imei(index: int) -> str:
    return str(FIRST_IMEI + index)


def avl_packet(first_ms: int, count: int, index: int) -> bytes:
    records = b"".join(
        _RECORD.pack(
            first_ms + n, 0, 252797000 + index * 100, 546872000 + n * 10, 112, 90, 9, 40, 0, 2,
            2, 239, 1, 21, 4, 0, 0, 0,
        )
        for n in range(count)
    )
    body = bytes([0x08, count]) + records + bytes([count])
    return b"\0\0\0\0" + len(body).to_bytes(4, "big") + body + crc16_ibm(body).to_bytes(4, "big")


class Teltonika:
    """IMEI login answered by 01; Codec 8 AVL packets answered by their record count."""

    api_brand, model = "TELTONIKA", "01M8A3J4EXC1SE2XJ4RFJBXV9Q"
    multi_record = True

    def __init__(self, index: int) -> None:
        self.index = index
        self.clock_ms = 0

    @staticmethod
    def unit_id(index: int) -> str:
        return imei(index)

    @staticmethod
    def password(index: int) -> str | None:
        return None

    def login(self) -> bytes:
        login = self.unit_id(self.index).encode()
        return len(login).to_bytes(2, "big") + login

    @staticmethod
    def login_answer(buffer: bytearray) -> bool | None:
        """True / False once the login's answer is in ``buffer`` (and taken out of it)."""
        if not buffer:
            return None
        answer = buffer[0]
        del buffer[:1]
        return answer == 1

    def packet(self, records: int) -> bytes:
        # Device times are now, as a live unit's are, so every packet also moves the
        # vehicle's state; they never repeat, so no record is dropped as a resend.
        self.clock_ms = max(self.clock_ms, int(time.time() * 1000))
        packet = avl_packet(self.clock_ms, records, self.index)
        self.clock_ms += records
        return packet

    @staticmethod
    def ack(buffer: bytearray) -> int | None:
        """The records an ACK in ``buffer`` acknowledges (it is taken out), None until one is whole."""
        if len(buffer) < 4:
            return None
        count = int.from_bytes(buffer[:4], "big")
        del buffer[:4]
        return count


class Gt06:
    """0x01 login and 0x22 locations, each answered by a 10-byte echo of number and serial."""

    api_brand, model = "CONCOX", "01M8A3J4GCYMJHQ8FEKE6WNR6X"
    multi_record = False
    ECHO = 10

    def __init__(self, index: int) -> None:
        self.index = index
        self.unit = gt06_sim.SimulatedUnit(self.unit_id(index), self.password(index), index=index)
        content = self.unit.location_utc(datetime.now(timezone.utc))
        self.middle = content[6:-4]  # between the device time and the mileage: gps, cell, report
        self.mileage = 0

    @staticmethod
    def unit_id(index: int) -> str:
        return gt06_sim.imei_for(index, str(FIRST_IMEI))

    @staticmethod
    def password(index: int) -> str:
        return f"bench{index}"

    def login(self) -> bytes:
        return self.unit.login_frame(self.unit.next_serial())

    @classmethod
    def login_answer(cls, buffer: bytearray) -> bool | None:
        if len(buffer) < cls.ECHO:
            return None
        protocol = buffer[3]
        del buffer[: cls.ECHO]
        return protocol == gt06.LOGIN

    def packet(self, records: int) -> bytes:
        now = datetime.now(timezone.utc)
        self.mileage += 1
        stamp = bytes((now.year - 2000, now.month, now.day, now.hour, now.minute, now.second))
        content = stamp + self.middle + self.mileage.to_bytes(4, "big")
        covered = bytes([len(content) + gt06.LENGTH_OVERHEAD, gt06.LOCATION_UTC]) + content \
            + self.unit.next_serial().to_bytes(2, "big")
        return gt06.SHORT_START + covered + gt06.crc_itu(covered).to_bytes(2, "big") + gt06.STOP

    @classmethod
    def ack(cls, buffer: bytearray) -> int | None:
        if len(buffer) < cls.ECHO:
            return None
        del buffer[: cls.ECHO]
        return 1


class Jt808:
    """0x0102 authentication with the code the vehicle was registered with, then 0x0200
    locations with three additional items; each answered by a 0x8001 general response."""

    api_brand, model = "JT808", "01M8A3J4HQXHE7A2J2G01ZH06Q"
    multi_record = False
    _TIME, _MILEAGE = slice(22, 28), slice(30, 34)  # in the 0x0200 body: device time, item 0x01's value

    def __init__(self, index: int) -> None:
        self.index = index
        self.unit = jt808_sim.SimulatedUnit(self.unit_id(index), self.password(index), index=index)
        body = self.unit.location_body()
        whole = jt808.unescape(self.unit.frame(jt808.LOCATION, body)[1][1:-1])
        self.content = bytearray(whole[:-1])  # header and body, without the check code
        self.body_at = len(self.content) - len(body)
        self.serial_at = self.body_at - 2  # the 2013 header ends with the serial
        self.mileage = 0

    @staticmethod
    def unit_id(index: int) -> str:
        return jt808_sim.phone_for(index)

    @staticmethod
    def password(index: int) -> str:
        return f"bench-auth-{index}"

    def login(self) -> bytes:
        return self.unit.frame(jt808.AUTHENTICATION, self.unit.authentication_body())[1]

    @staticmethod
    def _result(buffer: bytearray) -> int | None:
        """The result of the 0x8001 whose frame is first in ``buffer`` (taken out), None until it is whole."""
        end = buffer.find(b"\x7e", 1)
        if end < 0:
            return None
        content = jt808.unescape(bytes(buffer[1:end]))
        del buffer[: end + 1]
        return content[-2]  # the body's last byte, before the check code

    @classmethod
    def login_answer(cls, buffer: bytearray) -> bool | None:
        result = cls._result(buffer)
        return None if result is None else result == 0

    def packet(self, records: int) -> bytes:
        content, body = self.content, self.body_at
        content[body + self._TIME.start:body + self._TIME.stop] = bytes.fromhex(
            datetime.now(_JT808_TZ).strftime("%y%m%d%H%M%S"))
        self.mileage += 1
        content[body + self._MILEAGE.start:body + self._MILEAGE.stop] = self.mileage.to_bytes(4, "big")
        content[self.serial_at:self.serial_at + 2] = self.unit.next_serial().to_bytes(2, "big")
        return b"\x7e" + jt808.escape(bytes(content) + bytes([jt808.check_code(content)])) + b"\x7e"

    @classmethod
    def ack(cls, buffer: bytearray) -> int | None:
        result = cls._result(buffer)
        if result is None:
            return None
        return 1 if result == 0 else 0


BRANDS = {"teltonika": Teltonika, "gt06": Gt06, "jt808": Jt808}
