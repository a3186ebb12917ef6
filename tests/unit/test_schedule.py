"""Durations and frequencies: what the registry accepts and when a stack is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iacdrift.core.schedule import is_due, parse_duration, parse_frequency

UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "y": timedelta(days=365),
}
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("90d", timedelta(days=90)),
        ("2w", timedelta(days=14)),
        ("7y", timedelta(days=7 * 365)),
        (" 15m ", timedelta(minutes=15)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@given(n=st.integers(min_value=1, max_value=1_000_000), unit=st.sampled_from(sorted(UNITS)))
def test_parse_duration_is_number_times_unit(n: int, unit: str) -> None:
    assert parse_duration(f"{n}{unit}") == n * UNITS[unit]


@pytest.mark.parametrize("text", ["", "15", "m", "0m", "-5m", "1.5h", "15M", "15 m", "7 years"])
def test_parse_duration_rejects_and_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration: write <number><unit>"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hourly", timedelta(hours=1)),
        ("daily", timedelta(days=1)),
        ("weekly", timedelta(weeks=1)),
        ("Daily", timedelta(days=1)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
    ],
)
def test_parse_frequency(text: str, expected: timedelta) -> None:
    assert parse_frequency(text) == expected


@pytest.mark.parametrize("text", ["every-tuesday", "monthly", "0h", ""])
def test_parse_frequency_rejects_with_one_message(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_frequency(text)

    assert str(caught.value) == (
        f"{text!r} is not a frequency: use hourly, daily, weekly or a duration such as 15m"
    )
    # The duration error is replaced, not chained: users see one message.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


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
