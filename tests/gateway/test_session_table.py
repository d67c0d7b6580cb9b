"""The per-unit brake on repeated authentication failures."""

from gateway.session_table import AuthThrottle


def test_failures_of_one_unit_slow_down_and_reset_on_success():
    throttle = AuthThrottle(base=0.5, cap=4.0)
    unit, neighbour = ("JT808", "013912345678"), ("JT808", "013912345679")
    assert [throttle.failed(unit) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    # Keyed by unit id, not by address: a neighbour behind the same carrier NAT is not slowed.
    assert throttle.failed(neighbour) == 0.5
    throttle.succeeded(unit)
    assert throttle.failed(unit) == 0.5
