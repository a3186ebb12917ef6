"""Sweeps split across CI jobs: the Actions matrix (build_matrix) and the hash shards
of `run --shard I/N` (shard_members), on a generated 300-stack registry."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from iacdrift.ci.matrix import (
    DEFAULT_SECONDS,
    build_matrix,
    name_hash,
    shard_members,
    shard_of,
)
from iacdrift.models.ci import (
    ACTIONS_MATRIX_LIMIT,
    Matrix,
    MatrixEntry,
    MatrixStack,
    parse_shard,
)
from iacdrift.models.registry import RiskTier

# 300 stacks: 23 critical, 61 high, 97 medium, 119 low.
TIER_SIZES = {RiskTier.CRITICAL: 23, RiskTier.HIGH: 61, RiskTier.MEDIUM: 97, RiskTier.LOW: 119}


def generated_registry() -> list[MatrixStack]:
    """Deterministic data: check times from 20 s to ~15 min, every 9th never checked."""
    stacks = []
    number = 0
    for tier, size in TIER_SIZES.items():
        for _ in range(size):
            seconds = None if number % 9 == 4 else float(20 + (number * 7919) % 900)
            stacks.append(
                MatrixStack(name=f"{tier.value}-stack-{number:03d}", tier=tier, seconds=seconds)
            )
            number += 1
    return stacks


def pairs(stacks: list[MatrixStack]) -> list[tuple[str, str]]:
    return [(s.name, s.tier.value) for s in stacks]


def estimates(stacks: list[MatrixStack]) -> dict[str, float]:
    known = sorted(s.seconds for s in stacks if s.seconds)
    middle = len(known) // 2
    median = known[middle] if len(known) % 2 else (known[middle - 1] + known[middle]) / 2
    return {s.name: s.seconds or median for s in stacks}


# --- build_matrix -------------------------------------------------------------------


def test_the_300_stack_matrix_fits_actions_and_holds_every_stack_once() -> None:
    stacks = generated_registry()
    matrix = build_matrix(stacks)
    assert len(stacks) == 300
    assert 0 < len(matrix.include) <= ACTIONS_MATRIX_LIMIT
    seen = Counter(name for entry in matrix.include for name in entry.names)
    assert set(seen) == {s.name for s in stacks}
    assert set(seen.values()) == {1}
    assert all(entry.count == len(entry.names) >= 1 for entry in matrix.include)


@pytest.mark.parametrize("max_jobs", [4, 5, 10, 37, 100, 256])
def test_the_matrix_never_exceeds_max_jobs_and_tiers_stay_grouped(max_jobs: int) -> None:
    stacks = generated_registry()
    matrix = build_matrix(stacks, max_jobs=max_jobs)
    assert len(matrix.include) <= max_jobs
    assert sorted(matrix.stack_names()) == sorted(s.name for s in stacks)
    ranks = [entry.tier.rank for entry in matrix.include]
    assert ranks == sorted(ranks), "entries sorted by tier rank, critical first"
    for tier in TIER_SIZES:
        entries = matrix.of_tier(tier).include
        assert [e.shard for e in entries] == [
            f"{i}/{len(entries)}" for i in range(1, 1 + len(entries))
        ]
        assert all(name.startswith(f"{tier.value}-") for e in entries for name in e.names)


def test_the_matrix_is_deterministic_whatever_the_input_order() -> None:
    stacks = generated_registry()
    first = build_matrix(stacks, max_jobs=40).model_dump_json()
    assert build_matrix(list(reversed(stacks)), max_jobs=40).model_dump_json() == first
    shuffled = sorted(stacks, key=lambda s: name_hash(s.name))
    assert build_matrix(shuffled, max_jobs=40).model_dump_json() == first


@pytest.mark.parametrize("max_jobs", [4, 12, 40, 100, 256])
def test_each_tier_is_balanced_by_estimated_seconds(max_jobs: int) -> None:
    """Longest first into the least loaded entry: within a tier, the busiest entry
    exceeds the idlest by at most the tier's longest stack."""
    stacks = generated_registry()
    seconds = estimates(stacks)
    matrix = build_matrix(stacks, max_jobs=max_jobs)
    for tier in TIER_SIZES:
        entries = matrix.of_tier(tier).include
        loads = [e.estimatedSeconds for e in entries]
        longest = max(seconds[s.name] for s in stacks if s.tier is tier)
        assert max(loads) - min(loads) <= longest + 0.1
        for entry in entries:
            assert entry.estimatedSeconds == pytest.approx(
                sum(seconds[name] for name in entry.names), abs=0.05
            )


def test_the_budget_goes_to_tiers_in_proportion_to_their_time() -> None:
    stacks = generated_registry()
    matrix = build_matrix(stacks, max_jobs=40)
    assert len(matrix.include) == 40
    counts = {tier: len(matrix.of_tier(tier).include) for tier in TIER_SIZES}
    seconds = estimates(stacks)
    total = sum(seconds.values())
    for tier, entries in counts.items():
        share = 40 * sum(seconds[s.name] for s in stacks if s.tier is tier) / total
        assert abs(entries - share) <= 1.5, (tier, entries, share)


def test_a_small_registry_gets_one_entry_per_stack_and_no_more() -> None:
    stacks = [
        MatrixStack(name="prod-network", tier=RiskTier.CRITICAL, seconds=300),
        MatrixStack(name="prod-iam", tier=RiskTier.CRITICAL, seconds=60),
        MatrixStack(name="prod-app", tier=RiskTier.HIGH),
    ]
    matrix = build_matrix(stacks)
    assert [(e.tier, e.shard, e.stacks) for e in matrix.include] == [
        (RiskTier.CRITICAL, "1/2", "prod-network"),
        (RiskTier.CRITICAL, "2/2", "prod-iam"),
        (RiskTier.HIGH, "1/1", "prod-app"),
    ]
    # prod-app was never checked: the median of the known times (300, 60).
    assert matrix.include[2].estimatedSeconds == 180.0


def test_with_no_known_time_every_stack_counts_the_default() -> None:
    stacks = [MatrixStack(name=f"s{i}", tier=RiskTier.LOW) for i in range(4)]
    matrix = build_matrix(stacks, max_jobs=2)
    assert [(e.stacks, e.estimatedSeconds) for e in matrix.include] == [
        ("s0 s2", 2 * DEFAULT_SECONDS),
        ("s1 s3", 2 * DEFAULT_SECONDS),
    ]


def test_the_matrix_serialises_to_what_actions_expects() -> None:
    stacks = [
        MatrixStack(name="b", tier=RiskTier.MEDIUM, seconds=10),
        MatrixStack(name="a", tier=RiskTier.MEDIUM, seconds=10),
    ]
    document = json.loads(build_matrix(stacks, max_jobs=1).model_dump_json())
    assert document == {
        "include": [
            {
                "tier": "medium",
                "shard": "1/1",
                "stacks": "a b",
                "count": 2,
                "estimatedSeconds": 20.0,
            }
        ]
    }
    assert Matrix.model_validate(document) == build_matrix(stacks, max_jobs=1)
    assert build_matrix([]).include == []


@pytest.mark.parametrize(
    ("max_jobs", "message"),
    [(0, "1 to 256"), (257, "1 to 256"), (3, "span 4 risk tiers")],
)
def test_max_jobs_out_of_range_is_refused(max_jobs: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_matrix(generated_registry(), max_jobs=max_jobs)


def test_a_stack_named_twice_is_refused() -> None:
    twice = [MatrixStack(name="a", tier=RiskTier.LOW), MatrixStack(name="a", tier=RiskTier.HIGH)]
    with pytest.raises(ValueError, match="more than once: a"):
        build_matrix(twice)


def test_an_entry_must_agree_with_itself() -> None:
    with pytest.raises(ValueError, match="count"):
        MatrixEntry(tier=RiskTier.LOW, shard="1/1", stacks="a b", count=3, estimatedSeconds=1)
    with pytest.raises(ValueError, match="sorted"):
        MatrixEntry(tier=RiskTier.LOW, shard="1/1", stacks="b a", count=2, estimatedSeconds=1)
    with pytest.raises(ValueError, match="between 1 and 2"):
        MatrixEntry(tier=RiskTier.LOW, shard="3/2", stacks="a", count=1, estimatedSeconds=1)


# --- shard_members / shard_of --------------------------------------------------------


@pytest.mark.parametrize("count", range(1, 8))
def test_shards_are_a_disjoint_cover(count: int) -> None:
    registry = pairs(generated_registry())
    shards = [shard_members(registry, index, count) for index in range(1, count + 1)]
    everyone = [name for shard in shards for name in shard]
    assert sorted(everyone) == sorted(name for name, _ in registry)
    assert len(everyone) == len(set(everyone))
    for index, shard in enumerate(shards, start=1):
        assert all(shard_of(name, registry, count) == index for name in shard)


@pytest.mark.parametrize("count", range(1, 8))
def test_every_tier_is_spread_evenly_critical_first(count: int) -> None:
    registry = pairs(generated_registry())
    tiers = dict(registry)
    shards = [shard_members(registry, index, count) for index in range(1, count + 1)]
    for tier, size in TIER_SIZES.items():
        per_shard = [sum(tiers[name] == tier.value for name in shard) for shard in shards]
        assert set(per_shard) <= {size // count, -(-size // count)}, (tier, per_shard)
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1
    # Within a shard, critical stacks come first.
    for shard in shards:
        ranks = [RiskTier(tiers[name]).rank for name in shard]
        assert ranks == sorted(ranks)


# The example registry's stacks: a change of the hash or of the deal breaks these.
EXAMPLE = [
    ("prod-network", "critical"),
    ("prod-iam", "critical"),
    ("prod-app", "high"),
    ("prod-payments", "high"),
    ("staging-app", "medium"),
    ("legacy-storage", "low"),
]


def test_shard_values_are_pinned() -> None:
    assert name_hash("prod-app") == (
        "da675788f2d7b3ee3f155cb9ac9472c26f7fc1b27d276614a3ddeef34a29d586"
    )
    assert [shard_members(EXAMPLE, index, 3) for index in (1, 2, 3)] == [
        ["prod-network", "prod-app"],
        ["prod-iam", "staging-app"],
        ["prod-payments", "legacy-storage"],
    ]
    assert [shard_of(name, EXAMPLE, 2) for name, _ in EXAMPLE] == [1, 2, 2, 1, 1, 2]


def test_shards_do_not_depend_on_the_input_order() -> None:
    assert shard_members(list(reversed(EXAMPLE)), 2, 4) == shard_members(EXAMPLE, 2, 4)


@pytest.mark.parametrize(
    ("index", "count", "message"),
    [(0, 3, "between 1 and 3"), (4, 3, "between 1 and 3"), (1, 0, "at least 1")],
)
def test_a_shard_out_of_range_is_refused(index: int, count: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shard_members(EXAMPLE, index, count)


def test_unknown_tiers_and_stacks_are_refused() -> None:
    with pytest.raises(ValueError, match="'urgent' is not a risk tier"):
        shard_members([("a", "urgent")], 1, 1)
    with pytest.raises(ValueError, match="not among the stacks"):
        shard_of("nope", EXAMPLE, 2)


def test_parse_shard() -> None:
    assert parse_shard("2/5") == (2, 5)
    for text in ("0/5", "6/5", "2", "a/b", "2/0"):
        with pytest.raises(ValueError):
            parse_shard(text)
