"""Records into rows: the duplicate key's layout and the timestamps stored with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from drivers.base import Position, Record
from drivers.registry import DRIVERS
from gateway.clock import rfc3339
from gateway.ingest import prepare_batch

RECEIVED = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def _record(device_time, ignition=1):
    return Record(device_time=device_time, position=Position(54.6, 25.3, 100.0, 30.0, 90.0, 9, True),
                  fields={"codec": 8, "io": {"239": ignition}})


def _keys(unit_id, *records):
    rows = prepare_batch(DRIVERS["teltonika"], {}, "V1", unit_id, records, b"frame", RECEIVED, 600)
    return [row.duplicate_key for row in rows.records]


def test_duplicate_key_leads_with_the_device_time_so_live_records_append_to_its_index():
    at = datetime(2026, 11, 25, 11, 59, 59, 123000, tzinfo=UTC)
    (key,) = _keys("356307042441013", _record(at))
    assert len(key) == 16
    assert int.from_bytes(key[:6], "big") == 1795607999123  # ms since 1970
    later, = _keys("356307042441013", _record(at + timedelta(milliseconds=1)))
    assert later > key


def test_duplicate_key_collapses_resends_only():
    at = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    first = _keys("356307042441013", _record(at))
    assert _keys("356307042441013", _record(at)) == first  # a resend
    assert _keys("356307042441014", _record(at)) != first  # another unit
    assert _keys("356307042441013", _record(at, ignition=0)) != first  # other content, same instant


def test_duplicate_key_of_a_time_before_1970_starts_at_zero():
    (key,) = _keys("356307042441013", _record(datetime(1969, 12, 31, 23, 0, tzinfo=UTC)))
    assert key[:6] == bytes(6)


def test_rfc3339_writes_utc_with_milliseconds_whatever_the_input_zone():
    assert rfc3339(datetime(2021, 1, 19, 13, 13, 9, 952999, tzinfo=UTC)) == "2021-01-19T13:13:09.952Z"
    assert rfc3339(datetime(2021, 1, 19, 15, 13, 9, 952000, tzinfo=timezone(timedelta(hours=2)))) == \
        "2021-01-19T13:13:09.952Z"
    assert rfc3339(datetime(2021, 1, 19, 13, 13, 9)) == "2021-01-19T13:13:09.000Z"  # naive: taken as UTC
