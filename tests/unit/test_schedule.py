"""When a stack is due (parsing durations and frequencies: test_primitives.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iacdrift.core.schedule import is_due

UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "y": timedelta(days=365),
}
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_never_checked_stack_is_due() -> None:
    assert is_due("weekly", None, NOW)


@pytest.mark.parametrize(
    ("frequency", "age", "due"),
    [
        ("hourly", timedelta(minutes=59, seconds=59), False),
        ("hourly", timedelta(hours=1), True),
        ("hourly", timedelta(hours=3), True),
        ("15m", timedelta(minutes=14), False),
        ("15m", timedelta(minutes=15), True),
        ("weekly", timedelta(days=6), False),
        ("weekly", timedelta(days=7), True),
    ],
)
def test_is_due_after_one_period(frequency: str, age: timedelta, due: bool) -> None:
    assert is_due(frequency, NOW - age, NOW) is due


@given(
    n=st.integers(min_value=1, max_value=10_000),
    unit=st.sampled_from(["s", "m", "h", "d"]),
    seconds=st.integers(min_value=0, max_value=10**9),
)
def test_is_due_exactly_when_the_period_has_passed(n: int, unit: str, seconds: int) -> None:
    age = timedelta(seconds=seconds)
    assert is_due(f"{n}{unit}", NOW - age, NOW) is (age >= n * UNITS[unit])


def test_bad_frequency_raises_from_is_due() -> None:
    with pytest.raises(ValueError, match="is not a frequency"):
        is_due("every-tuesday", NOW - timedelta(days=1), NOW)
