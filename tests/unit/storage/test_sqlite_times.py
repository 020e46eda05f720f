"""SQLite keeps times as text: the text must sort as the times do, for every year R4 allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.storage.sql.sqlite import SqliteDialect

_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))])
# Far enough from year 1 and 9999 that every zone converts to UTC without overflow.
_TIMES = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_ZONES
)


@pytest.fixture(scope="module")
def dialect(tmp_path_factory: pytest.TempPathFactory) -> SqliteDialect:
    return SqliteDialect(Path(tmp_path_factory.mktemp("times")) / "t.db")


@given(a=_TIMES, b=_TIMES)
def test_text_order_is_time_order(dialect: SqliteDialect, a: datetime, b: datetime) -> None:
    ta, tb = dialect.encode_time(a), dialect.encode_time(b)
    assert len(ta) == len(tb) == len("2024-06-11T00:00:00.000000+00:00")
    assert (ta < tb) == (a < b)
    assert (ta == tb) == (a == b)


@given(value=_TIMES)
def test_times_read_back_as_written(dialect: SqliteDialect, value: datetime) -> None:
    assert dialect.decode_time(dialect.encode_time(value)) == value


def test_years_before_1000_are_zero_padded(dialect: SqliteDialect) -> None:
    assert dialect.encode_time(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000000+00:00"
    assert dialect.encode_time(datetime(800, 5, 6, 7, 8, 9, 10, tzinfo=UTC)) == (
        "0800-05-06T07:08:09.000010+00:00"
    )
