"""One simulated NIU scooter: its own state, moved forward to the moment of each question,
and that state in the shapes NIU's cloud answers with (protocol_specs/niu/spec.md §4-§6).

Scooters differ the way public clients saw real ones differ; ``index % 3`` picks the
variant: 0 plain numbers; 1 numbers and flags as strings; 2 the position under
``position`` as well as the cloud's own ``postion`` and a fortification flag left "".
Every fourth scooter has two battery compartments.
"""

from __future__ import annotations

import math
import random
from typing import Any

from drivers.niu.commands import ACC_OFF, ACC_ON, FORTIFICATION_OFF, FORTIFICATION_ON
from drivers.niu.parse import ASSUMED, NiuAssumptions

SEAT_CLOSED = "_seat_closed"  # not a NIU command: the rider shutting the seat again


class SimScooter:
    def __init__(self, sn: str, index: int, now: float, rng: random.Random) -> None:
        self.sn, self.index, self.rng, self.variant = sn, index, rng, index % 3
        self.double_battery = index % 4 == 3
        self.lat, self.lon = 52.5200 + (index % 50) * 0.002, 13.4050 + (index // 50) * 0.002  # Berlin
        self.heading = rng.uniform(0, 360)
        self.soc = 55 + rng.uniform(0, 40)
        self.odometer_km = 120 + index * 13.7
        self.acc_on, self.fortified, self.charging, self.connected = True, False, False, True
        self.top_case_locked, self.top_case_open, self.seat_released = True, False, False
        self.speed, self.beeps = 0.0, 0
        self.last = self.reported = self.bound_at = now
        self.pending: list[tuple[float, str]] = []  # (when, command type) accepted, not yet done

    # --- life ----------------------------------------------------------------------------

    def schedule(self, at: float, kind: str, assumptions: NiuAssumptions) -> None:
        self.pending.append((at, kind))
        if kind == assumptions.battery_compartment_command:
            self.pending.append((at + 10, SEAT_CLOSED))

    def _obey(self, kind: str, a: NiuAssumptions) -> None:
        if kind == ACC_ON:  # switching on disarms, as the key or the app does
            self.acc_on, self.fortified = True, False
        elif kind == ACC_OFF:
            self.acc_on = False
        elif kind == FORTIFICATION_ON:  # arming switches off
            self.acc_on, self.fortified = False, True
        elif kind == FORTIFICATION_OFF:
            self.fortified = False
        elif kind == a.top_case_unlock_command:  # the lid springs open once unlatched
            self.top_case_locked, self.top_case_open = False, True
        elif kind == a.top_case_lock_command:  # locking means pushing the lid down
            self.top_case_locked, self.top_case_open = True, False
        elif kind == a.battery_compartment_command:
            self.seat_released = True
        elif kind == SEAT_CLOSED:
            self.seat_released = False
        elif kind == a.find_command:
            self.beeps += 1

    def advance(self, now: float, a: NiuAssumptions = ASSUMED) -> None:
        due = sorted(p for p in self.pending if p[0] <= now)
        self.pending = [p for p in self.pending if p[0] > now]
        for _, kind in due:
            self._obey(kind, a)
        dt, self.last = now - self.last, max(now, self.last)
        if dt <= 0 or not self.connected:
            return  # an offline scooter reports nothing new
        if self.acc_on and ((now + 20 * self.index) // 60) % 3 != 2:  # ride two minutes, stand one
            self.speed = 18 + 7 * math.sin(now / 30 + self.index)
            km = self.speed * dt / 3600
            self.heading = (self.heading + self.rng.uniform(-20, 20)) % 360
            self.lat += km / 111.32 * math.cos(math.radians(self.heading))
            self.lon += km / (111.32 * math.cos(math.radians(self.lat))) * math.sin(math.radians(self.heading))
            self.odometer_km += km
            self.soc -= km * 0.9  # an N1 goes about 100 km on a charge
        else:
            self.speed = 0.0
            self.soc += dt * 0.02 if self.charging else -dt * 0.0002
            self.lat += self.rng.gauss(0, 0.000005)  # a parked scooter's GPS wanders a little
        if self.soc >= 100:
            self.charging = False
        elif self.soc < 8 and not self.acc_on:
            self.charging = True  # somebody plugged it in
        self.soc = min(100.0, max(1.0, self.soc))
        self.reported = now

    # --- what the cloud says about it ------------------------------------------------------

    def _num(self, value: float) -> Any:
        return str(value) if self.variant == 1 else value

    def _flag(self, value: bool) -> Any:
        return str(int(value)) if self.variant == 1 else int(value)

    def charges(self) -> dict[str, int]:
        """Charge per compartment in %: a second pack a little behind the first."""
        charges = {"compartmentA": round(self.soc)}
        if self.double_battery:
            charges["compartmentB"] = max(0, round(self.soc) - 3)
        return charges

    @property
    def vin(self) -> str:
        return f"LNNBSG4C7{self.index:08d}"

    @property
    def name(self) -> str | None:
        return f"N1 #{self.index + 1}" if self.index % 3 != 2 else None  # some owners name none

    def listing(self) -> dict[str, Any]:
        """An item of GET /v5/scooter/list: most clients read ``sn_id``, ioBroker ``sn``."""
        item: dict[str, Any] = {"sn_id": self.sn, "sku_name": "N1S", "product_type": "native",
                                "carframe_id": self.vin, "isDefault": self.index == 0, "isMaster": True}
        if self.index % 2:
            item["sn"] = self.sn
        if self.name:
            item["scooter_name"] = self.name
        return item

    def motoinfo(self) -> dict[str, Any]:
        """An item of POST /motoinfo/list, the older list."""
        return {"sn": self.sn, "name": self.name or "", "frameNo": self.vin, "engineNo": f"EN{self.index:010d}",
                "type": "N1S Black", "productType": "native", "isDoubleBattery": self.double_battery,
                "isMaster": True, "isSelected": self.index == 0, "bindNum": 1,
                "gpsTimestamp": int(self.reported * 1000), "infoTimestamp": int(self.reported * 1000)}

    def detail(self) -> dict[str, Any]:
        ms = str(int(self.reported * 1000))
        return {"sn_id": self.sn, "scooter_name": self.name or "", "sku_name": "N1S", "scooter_type": "N1S",
                "battery": str(round(self.soc)), "mileage": round(self.soc * 0.9), "soft_version": "N1SC1V2.4.6",
                "device_version": "N1SD1V1.0", "is_double_battery": self.double_battery, "carframe_id": self.vin,
                "engine_num": f"EN{self.index:010d}", "bind_count": 1, "isMaster": True,
                "gpsTimestamp": ms, "infoTimestamp": ms}

    def index_info(self, a: NiuAssumptions) -> dict[str, Any]:
        ms = int(self.reported * 1000)
        spot = {"lat": self._num(round(self.lat, 6)), "lng": self._num(round(self.lon, 6))}
        batteries = {name: {"bmsId": f"BN{self.sn[-10:]}{name[-1]}", "isConnected": True,
                            "batteryCharging": self._num(charge), "gradeBattery": "97.5"}
                     for name, charge in self.charges().items()}
        data = {
            "isConnected": self.connected,
            "ss_online_sta": "1" if self.connected else "0",
            "isAccOn": self._flag(self.acc_on),
            "isFortificationOn": "" if self.variant == 2 else self._flag(self.fortified),
            "lockStatus": 0 if self.acc_on else 1,
            "is_cushion_lock_on": self._flag(self.seat_released),
            "isCharging": int(self.charging),
            "batteries": batteries,
            "postion": spot,  # sic: the cloud's own spelling
            "nowSpeed": self._num(round(self.speed, 1)),
            "estimatedMileage": self._num(round(self.soc * 0.9)),
            "leftTime": str(round((100 - self.soc) / 20, 1)) if self.charging else "0.0",
            "time": str(ms) if self.variant == 1 else ms,
            "gpsTimestamp": ms,
            "infoTimestamp": ms,
            "gsm": 22, "gps": 4, "hdop": 1, "centreCtrlBattery": 100, "shakingValue": 0, "locationType": 1,
            "batteryDetail": True, "ss_protocol_ver": 3,
            "lastTrack": {"ridingTime": 90, "distance": 571, "time": ms},
            a.top_case_lock_field: int(self.top_case_locked),
            a.top_case_lid_field: int(self.top_case_open),
        }
        if self.variant == 2:
            data["position"] = spot
        return data

    def battery_info(self) -> dict[str, Any]:
        batteries = {name: {"items": [], "totalPoint": 0, "bmsId": f"BN{self.sn[-10:]}{name[-1]}",
                            "isConnected": True, "batteryCharging": charge, "chargedTimes": str(40 + self.index),
                            "temperature": 21 + self.index % 5, "temperatureDesc": "normal",
                            "energyConsumedTody": 120, "gradeBattery": "97.5"}
                     for name, charge in self.charges().items()}
        return {"batteries": batteries, "isCharging": int(self.charging), "centreCtrlBattery": 100,
                "batteryDetail": True, "estimatedMileage": round(self.soc * 0.9)}

    def overall_tally(self, now: float) -> dict[str, Any]:
        return {"bindDaysCount": 200 + int((now - self.bound_at) // 86400), "totalMileage": round(self.odometer_km, 1)}


__all__ = ["SEAT_CLOSED", "SimScooter"]
