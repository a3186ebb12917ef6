"""The pure primitives below models and core: durations, JSON pointers, globs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iacdrift.primitives.duration import parse_duration, parse_frequency
from iacdrift.primitives.glob import (
    address_matches,
    glob_covers,
    glob_matches,
    glob_problem,
    is_match_all,
)
from iacdrift.primitives.pointer import (
    WILDCARD,
    pointer_covers,
    pointer_problem,
    pointer_segments,
    pointer_specificity,
    pointers_overlap,
    values_at,
)

UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "y": timedelta(days=365),
}


def escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def pointer_of(*segments: str) -> str:
    return "".join("/" + escape(segment) for segment in segments)


# A key with the characters that need escaping, and no `*` (a wildcard only as a whole segment).
KEYS = st.text(alphabet="ab~/01", min_size=1, max_size=4)
SEGMENTS = st.one_of(KEYS, st.just(WILDCARD))
POINTERS = st.lists(SEGMENTS, max_size=4).map(lambda segments: pointer_of(*segments))


# --- durations and frequencies ----------------------------------------------------------


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
        (" weekly ", timedelta(weeks=1)),
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


# --- JSON pointers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pointer", "segments"),
    [
        ("", ()),
        ("/", ("",)),
        ("/tags/elbv2.k8s.aws~1cluster/~0x", ("tags", "elbv2.k8s.aws/cluster", "~x")),
        # ~01 is an escaped ~ followed by 1, never a /: ~1 is unescaped first (RFC 6901).
        ("/a~01", ("a~1",)),
        ("/~0~1", ("~/",)),
        ("/ingress/*/cidr_blocks", ("ingress", WILDCARD, "cidr_blocks")),
    ],
)
def test_pointer_segments_unescape(pointer: str, segments: tuple[str, ...]) -> None:
    assert pointer_segments(pointer) == segments


@given(st.lists(KEYS, max_size=5))
def test_pointer_segments_undo_escaping(segments: list[str]) -> None:
    assert pointer_segments(pointer_of(*segments)) == tuple(segments)


@pytest.mark.parametrize(
    "pointer", ["/tags/owner", "/ingress/*/description", "/tags/a~1b", "/~0", "/*", "/0"]
)
def test_pointer_problem_accepts_well_formed_patterns(pointer: str) -> None:
    assert pointer_problem(pointer) is None


@pytest.mark.parametrize(
    ("pointer", "message"),
    [
        ("tags", "'tags' is not a JSON pointer; start it with `/`, e.g. /tags/owner (RFC 6901)"),
        ("/tags//owner", "'/tags//owner' has an empty segment (`//` or a trailing `/`); remove it"),
        ("/tags/", "'/tags/' has an empty segment (`//` or a trailing `/`); remove it"),
        ("/a~2b", "'/a~2b': `~` must be written ~0 and `/` inside a key ~1 (RFC 6901)"),
        ("/a~", "'/a~': `~` must be written ~0 and `/` inside a key ~1 (RFC 6901)"),
        (
            "/tags/env*",
            "'/tags/env*': `*` matches a whole segment only; write /* as its own segment "
            "(e.g. /tags/*) or spell the key out",
        ),
        (
            "/**",
            "'/**': `*` matches a whole segment only; write /* as its own segment "
            "(e.g. /tags/*) or spell the key out",
        ),
    ],
)
def test_pointer_problem_says_what_to_do(pointer: str, message: str) -> None:
    assert pointer_problem(pointer) == message


@pytest.mark.parametrize(
    ("pattern", "pointer", "covers"),
    [
        ("/ingress", "/ingress/0/cidr_blocks", True),
        ("/ingress/*/description", "/ingress/3/description", True),
        ("/ingress/*/description", "/ingress/3/cidr_blocks", False),
        ("/ingress/0/cidr_blocks", "/ingress", False),
        ("/*", "/anything/below", True),
        ("/ingress/0", "/ingress/*", False),
        ("/ingress/*", "/ingress/*/from_port", True),
        ("", "/anything", True),
        ("/tags/a~1b", "/tags/a~1b/c", True),
        # An escaped / is part of one key: /tags/a~1b is not /tags/a/b.
        ("/tags/a~1b", "/tags/a/b", False),
        ("/tags/a", "/tags/a~1b", False),
        ("/tags/~0x", "/tags/~0x", True),
    ],
)
def test_pointer_covers(pattern: str, pointer: str, covers: bool) -> None:
    assert pointer_covers(pattern, pointer) is covers


def test_pointers_overlap_either_way() -> None:
    assert pointers_overlap("/ingress/*/cidr_blocks", "/ingress")
    assert pointers_overlap("/ingress", "/ingress/*/cidr_blocks")
    assert pointers_overlap("/*/x", "/policy")
    assert pointers_overlap("", "/tags/owner")
    assert not pointers_overlap("/tags/owner", "/tags/team")
    assert not pointers_overlap("/tags/a~1b", "/tags/a/b")


@given(a=POINTERS, b=POINTERS)
def test_a_covering_pattern_overlaps_and_overlap_is_symmetric(a: str, b: str) -> None:
    assert pointer_covers(a, a)
    assert pointers_overlap(a, b) is pointers_overlap(b, a)
    if pointer_covers(a, b):
        assert pointers_overlap(a, b)


@pytest.mark.parametrize(
    ("pattern", "specificity"),
    [
        ("", (0, 0)),
        ("/*", (1, 0)),
        ("/tags/*", (2, 1)),
        ("/tags/owner", (2, 2)),
        ("/*/*/x", (3, 1)),
    ],
)
def test_pointer_specificity_counts_segments_then_named_ones(
    pattern: str, specificity: tuple[int, int]
) -> None:
    assert pointer_specificity(pattern) == specificity


def test_values_at_fans_out_and_drops_missing_steps() -> None:
    value = {"a": [{"b": 1}, {"b": 2}, {"c": 3}], "d": {"y": 5, "x": 4}}
    assert values_at(value, "/a/*/b") == [1, 2]
    assert values_at(value, "/d/*") == [4, 5]  # mapping keys in sorted order
    assert values_at(value, "/a/1/b") == [2]
    assert values_at(value, "/a/9/b") == []
    assert values_at(value, "") == [value]


@pytest.mark.parametrize(
    ("value", "pointer", "found"),
    [
        ({"a/b": 1, "a": {"b": 2}}, "/a~1b", [1]),
        ({"~x": 1}, "/~0x", [1]),
        ({"0": "key"}, "/0", ["key"]),  # on a mapping a number is a key
        (["x", "y"], "/-1", []),  # not a position
        (["x", "y"], "/first", []),
        ("scalar", "/*", []),  # nothing to fan out over
        ({"a": None}, "/a", [None]),  # present but null is found
        ({"a": None}, "/a/b", []),
        ([[1, 2], [3]], "/*/*", [1, 2, 3]),
    ],
)
def test_values_at_edges(value: Any, pointer: str, found: list[Any]) -> None:
    assert values_at(value, pointer) == found


# --- globs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "empty pattern; write the value or a glob such as module.web.*"),
        ("prod-[ab", "'prod-[ab': unbalanced [ ] in the glob; close the bracket"),
        ("prod]", "'prod]': unbalanced [ ] in the glob; close the bracket"),
        ("prod", None),
        ("prod-[ab]", None),
        ("*", None),
    ],
)
def test_glob_problem(pattern: str, problem: str | None) -> None:
    assert glob_problem(pattern) == problem


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (None, None, True),
        (None, "anything", True),
        ("*", None, False),  # a pattern needs a value to match
        ("prod", "prod", True),
        ("prod", "Prod", False),  # case-sensitive
        ("prod-?", "prod-a", True),
        ("prod-?", "prod-ab", False),
        ("prod-[ab]", "prod-b", True),
        ("prod-[ab]", "prod-c", False),
        ("prod-[!ab]", "prod-c", True),
        ("module.web.*", "module.web.aws_x.this", True),
        ("module.web.*", "module.api.aws_x.this", False),
    ],
)
def test_glob_matches(pattern: str | None, value: str | None, matches: bool) -> None:
    assert glob_matches(pattern, value) is matches


LEDGER = 'module.bucket["ledger"].aws_s3_bucket.this'


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (None, None, True),
        ("*", None, False),
        (LEDGER, LEDGER, True),
        ('module.bucket["ledger"].*', LEDGER, True),  # brackets taken literally
        ('module.bucket["receipts"].*', LEDGER, False),
        ("module.bucket[*].aws_s3_bucket.this", LEDGER, True),  # any instance key
        ("aws_x.y[0]", "aws_x.y[0]", True),
        ("aws_x.y[01]", "aws_x.y0", True),  # still a character class when that matches
        ("sg-[0-9]*", "sg-0123", True),
        ("sg-[0-9]*", "sg-abc", False),
    ],
)
def test_address_matches(pattern: str | None, value: str | None, matches: bool) -> None:
    assert address_matches(pattern, value) is matches


@pytest.mark.parametrize(
    ("outer", "inner", "covers"),
    [
        (None, "x", True),
        (None, None, True),
        ("x", None, False),
        ("module.web.*", "module.web.aws_x.this", True),
        ("module.web.*", "module.web.aws_x.*", True),
        ("module.web.aws_x.*", "module.web.*", False),
        ("prod?", "prod*", False),
        ("prod", "prod", True),
        ("prod-[ab]", "prod-a", True),
        ("prod-[ab]", "prod-[ab]", True),
        ("prod-*", "prod-[ab]", True),
        # ? or [...] against another glob: only equality counts (conservative).
        ("prod-[ab]", "prod-?", False),
        ("prod-?", "prod-[ab]", False),
    ],
)
def test_glob_covers_is_conservative(outer: str | None, inner: str | None, covers: bool) -> None:
    assert glob_covers(outer, inner) is covers


@pytest.mark.parametrize(
    ("pattern", "all_"),
    [(None, True), ("*", True), ("**", True), ("", False), ("*x", False), ("?", False)],
)
def test_is_match_all(pattern: str | None, all_: bool) -> None:
    assert is_match_all(pattern) is all_


def test_values_at_takes_only_rfc6901_indexes() -> None:
    # Unicode digits once crashed int(); a leading zero is not an index (RFC 6901).
    document = {"x": ["a", "b", "c"]}
    assert values_at(document, "/x/1") == ["b"]
    assert values_at(document, "/x/0") == ["a"]
    assert values_at(document, "/x/01") == []
    assert values_at(document, "/x/\u00b2") == []
    assert values_at(document, "/x/\u0661") == []
