"""Aware moments and canonical JSON: the primitives every hash, id and stored time
relies on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iacdrift.primitives.canonical import canonical_json
from iacdrift.primitives.moments import as_utc, is_aware, require_aware

PLUS_TWO = timezone(timedelta(hours=2))


def test_require_aware_returns_utc_and_names_what_is_naive() -> None:
    moment = datetime(2025, 3, 1, 14, 0, tzinfo=PLUS_TWO)
    assert require_aware(moment, "now") == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert require_aware(moment, "now").tzinfo is UTC
    with pytest.raises(ValueError, match=r"^sent_at must be timezone-aware \(UTC\), got 2025"):
        require_aware(datetime(2025, 3, 1), "sent_at")


def test_as_utc_reads_a_naive_moment_as_utc() -> None:
    assert as_utc(datetime(2025, 3, 1, 12, 0)) == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert as_utc(datetime(2025, 3, 1, 14, 0, tzinfo=PLUS_TWO)).hour == 12
    assert not is_aware(datetime(2025, 3, 1)) and is_aware(datetime(2025, 3, 1, tzinfo=UTC))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(JSON)
def test_canonical_json_is_the_historic_text(value: Any) -> None:
    # Finding ids, fingerprints and policy versions hash these exact bytes.
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert canonical_json(value, ensure_ascii=True, default=str) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), default=str
    )


def test_canonical_json_keeps_or_escapes_non_ascii() -> None:
    assert canonical_json({"b": "é", "a": [1, None]}) == '{"a":[1,null],"b":"é"}'
    assert canonical_json({"b": "é"}, ensure_ascii=True) == '{"b":"\\u00e9"}'
    with pytest.raises(TypeError):
        canonical_json([datetime(2025, 3, 1)])
    assert canonical_json([datetime(2025, 3, 1)], default=str) == '["2025-03-01 00:00:00"]'
