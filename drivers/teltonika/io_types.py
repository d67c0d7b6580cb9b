"""Which Teltonika IO values are signed (protocol_specs/teltonika/spec.md §3, "IO values").

Teltonika's AVL ID tables ([AVLID]: the FMB family's "Teltonika Data Sending Parameters ID"
pages, firmware 03.29) give each id a type. These are the ids they type Signed for the FMB
family (FMB/FMC/FMM/FMU/FMT/FMP units), with the name and size the table gives; every
other id is read unsigned. Checked against the table dump in alim-zanibekov/teltonika,
tools/io_elements_dump.csv at commit 75f4c16c36713424cddffb225436e523118e2c6e.

The FMB64x and FMx6 families number some ids differently (6 and 8 are Dallas temperatures
there, analog input 2 and an iButton here): fleetgate reads ids as the FMB family does.
No 8-byte id is Signed in the tables, so 8-byte values are unsigned unless listed here.
"""

from __future__ import annotations

# id: (name, size in the table). A value is signed at the width it arrives in: the same
# id comes in other sizes on other units (72 in 2 bytes on older ones).
SIGNED_IO: dict[int, tuple[str, int]] = {
    17: ("Axis X", 2), 18: ("Axis Y", 2), 19: ("Axis Z", 2),
    25: ("BLE Temperature #1", 2), 26: ("BLE Temperature #2", 2),
    27: ("BLE Temperature #3", 2), 28: ("BLE Temperature #4", 2),
    32: ("Coolant Temperature", 1), 33: ("Short Fuel Trim", 1), 38: ("Timing Advance", 1),
    39: ("Intake Air Temperature", 1), 47: ("EGR Error", 1), 53: ("Ambient Air Temperature", 1),
    59: ("Fuel injection timing", 2),
    72: ("Dallas Temperature 1", 4), 73: ("Dallas Temperature 2", 4),
    74: ("Dallas Temperature 3", 4), 75: ("Dallas Temperature 4", 4),
    115: ("Engine Temperature", 2), 151: ("Battery Temperature", 2),
    161: ("Slope of Arm", 2), 162: ("Rotation of Arm", 2),
    201: ("LLS 1 Fuel Level", 2), 202: ("LLS 1 Temperature", 1),
    203: ("LLS 2 Fuel Level", 2), 204: ("LLS 2 Temperature", 1), 211: ("LLS 3 Temperature", 1),
    212: ("LLS 4 Fuel Level", 2), 213: ("LLS 4 Temperature", 1),
    214: ("LLS 5 Fuel Level", 2), 215: ("LLS 5 Temperature", 1),
    269: ("Escort LLS Temperature #1", 1), 272: ("Escort LLS Temperature #2", 1),
    275: ("Escort LLS Temperature #3", 1), 278: ("Escort LLS Temperature #4", 1),
    327: ("UL202-02 Sensor Fuel level", 2), 544: ("Hybrid System Current", 2),
    1152: ("OEM Battery Temperature", 2),
    10800: ("EYE Temperature 1", 2), 10801: ("EYE Temperature 2", 2),
    10802: ("EYE Temperature 3", 2), 10803: ("EYE Temperature 4", 2),
    10816: ("EYE Pitch 1", 1), 10817: ("EYE Pitch 2", 1), 10818: ("EYE Pitch 3", 1), 10819: ("EYE Pitch 4", 1),
    10832: ("EYE Roll 1", 2), 10833: ("EYE Roll 2", 2), 10834: ("EYE Roll 3", 2), 10835: ("EYE Roll 4", 2),
}


def signed(value: int, width: int) -> int:
    """An unsigned ``width``-byte value read as two's complement."""
    half = 1 << (8 * width - 1)
    return value - 2 * half if value >= half else value
