"""The brakes on guessing a unit's password: per unit id, and per source address only
above its threshold."""

import pytest

from gateway.session_table import AttemptInFlight, AuthThrottle

UNIT, NEIGHBOUR = ("JT808", "013912345678"), ("JT808", "013912345679")
ADDRESS = "10.0.0.1"


async def test_failures_of_one_unit_slow_down_and_reset_on_success():
    throttle = AuthThrottle(base=0.5, cap=4.0)
    delays = []
    for _ in range(6):
        delays.append(throttle.delay(UNIT, ADDRESS))
        throttle.failed(UNIT, ADDRESS)
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    # The brake holds right codes too: the answer takes as long whatever the code was.
    assert throttle.engaged(UNIT, ADDRESS)
    # Keyed by unit id: a neighbour behind the same carrier NAT is not slowed.
    assert not throttle.engaged(NEIGHBOUR, ADDRESS) and throttle.delay(NEIGHBOUR, ADDRESS) == 0.5
    throttle.succeeded(UNIT)
    assert not throttle.engaged(UNIT, ADDRESS) and throttle.delay(UNIT, ADDRESS) == 0.5


async def test_any_number_of_failures_waits_the_cap():
    throttle = AuthThrottle(base=0.5, cap=30.0)
    for _ in range(5000):  # a client id guessed at for hours: 2 ** 5000 is past any float
        throttle.failed(UNIT)
    assert throttle.delay(UNIT) == 30.0


async def test_a_source_address_is_slowed_only_above_its_threshold(mock_clock):
    throttle = AuthThrottle(base=0.5, cap=30.0, address_threshold=3)
    for n in range(3):  # three units, one failure each: still within the threshold
        throttle.failed(("JT808", f"0139000000{n:02d}"), ADDRESS)
    assert not throttle.engaged(UNIT, ADDRESS)
    throttle.failed(("JT808", "013900000099"), ADDRESS)
    assert throttle.engaged(UNIT, ADDRESS) and throttle.delay(UNIT, ADDRESS) == 1.0
    assert not throttle.engaged(UNIT, "10.0.0.2")
    throttle.succeeded(("JT808", "013900000099"))  # a right code does not lift the address's brake
    assert throttle.engaged(UNIT, ADDRESS)
    mock_clock.jump(601)  # the address's failures count for ten minutes
    assert not throttle.engaged(UNIT, ADDRESS)


async def test_one_attempt_in_flight_per_unit():
    throttle = AuthThrottle()
    with throttle.attempt(UNIT):
        with pytest.raises(AttemptInFlight):
            with throttle.attempt(UNIT):
                pass
        with throttle.attempt(NEIGHBOUR):
            pass
    with throttle.attempt(UNIT):
        pass
