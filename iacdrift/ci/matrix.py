"""Which CI job checks which stack. Pure: stacks and timings in, shards out.

Two ways to split a sweep across CI jobs, both deterministic:

- :func:`build_matrix` (``iacdrift ci matrix``): the GitHub Actions matrix of the
  stacks to check now, grouped by risk tier, each entry naming its stacks, balanced
  by each stack's last check time. Each job runs ``iacdrift run --stack ...`` for
  the names of its entry.
- :func:`shard_members` (``iacdrift run --shard I/N``): the I-th of N shards dealt
  from the whole registry by a content hash of each name, the same on every machine.

Either way, two jobs never check one stack at once: the orchestrator lease still
guards every check.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Sequence
from statistics import median

from iacdrift.models.ci import (
    ACTIONS_MATRIX_LIMIT,
    Matrix,
    MatrixEntry,
    MatrixStack,
    check_shard,
)
from iacdrift.models.registry import RiskTier

# The estimate for a stack when no stack of the sweep was ever checked: about one
# init and one plan of a small stack.
DEFAULT_SECONDS = 120.0


def _tier_rank(tier: str) -> int:
    try:
        return RiskTier(tier).rank
    except ValueError:
        known = ", ".join(t.value for t in RiskTier)
        raise ValueError(f"{tier!r} is not a risk tier: use one of {known}") from None


def name_hash(stack: str) -> str:
    """The stable hash that orders a tier's stacks: hex SHA-256 of the UTF-8 name
    (never ``hash()``, which differs from process to process)."""
    return hashlib.sha256(stack.encode("utf-8")).hexdigest()


def _deal_order(stacks: Sequence[tuple[str, str]]) -> list[str]:
    seen = Counter(name for name, _ in stacks)
    duplicates = sorted(name for name, times in seen.items() if times > 1)
    if duplicates:
        raise ValueError(f"stacks named more than once: {', '.join(duplicates)}")
    ranked = sorted((_tier_rank(tier), name_hash(name), name) for name, tier in stacks)
    return [name for _, _, name in ranked]


def shard_members(stacks: Sequence[tuple[str, str]], index: int, count: int) -> list[str]:
    """The stacks of shard ``index`` of ``count`` (1-based), from (name, tier) pairs.

    Contract:

    1. ``1 <= index <= count``, else ValueError; names are distinct and tiers are
       risk tiers (``critical``, ``high``, ``medium``, ``low``), else ValueError.
    2. The stacks are ordered by tier rank (critical first), then by
       :func:`name_hash`, and dealt round-robin: the k-th stack (0-based) goes to
       shard ``k % count + 1``. So every stack is in exactly one shard, and each
       shard holds the floor or the ceiling of each tier's share (critical stacks
       spread first, then the next tiers continue the deal).
    3. Deterministic from the names and tiers alone: the same registry gives the
       same shards on every machine. Adding or removing a stack may move others
       (exact balance needs the whole list); the lease still keeps two jobs of
       sweeps run from different registry revisions off one stack.

    Returned in dealing order (tier rank, then name hash).
    """
    check_shard(index, count)
    order = _deal_order(stacks)
    return [name for position, name in enumerate(order) if position % count == index - 1]


def shard_of(stack: str, stacks: Sequence[tuple[str, str]], count: int) -> int:
    """The shard (1-based, of ``count``) that :func:`shard_members` gives ``stack``.

    It takes the whole (name, tier) list because the deal balances tiers exactly,
    so a stack's shard depends on the others. ValueError if ``stack`` is not listed.
    """
    check_shard(1, count)
    order = _deal_order(stacks)
    if stack not in order:
        raise ValueError(f"{stack!r} is not among the stacks to shard")
    return order.index(stack) % count + 1


def _estimates(stacks: Sequence[MatrixStack]) -> dict[str, float]:
    known = sorted(s.seconds for s in stacks if s.seconds and s.seconds > 0)
    assumed = float(median(known)) if known else DEFAULT_SECONDS
    return {s.name: s.seconds if s.seconds and s.seconds > 0 else assumed for s in stacks}


def _allocate(tiers: list[tuple[RiskTier, float, int]], budget: int) -> dict[RiskTier, int]:
    """Entries per tier: one each, then one at a time to the tier with the highest
    estimated seconds per entry among those with more stacks than entries
    (D'Hondt: proportional to estimated time); ties go to the more critical tier."""
    entries = {tier: 1 for tier, _, _ in tiers}
    spare = min(budget, sum(count for _, _, count in tiers)) - len(tiers)
    for _ in range(spare):
        best: tuple[RiskTier, float] | None = None
        for tier, seconds, count in tiers:  # rank order: strict > keeps ties critical
            if entries[tier] >= count:
                continue
            if best is None or seconds * entries[best[0]] > best[1] * entries[tier]:
                best = (tier, seconds)
        if best is None:
            break
        entries[best[0]] += 1
    return entries


def _pack(members: list[MatrixStack], estimates: dict[str, float], bins: int) -> list[list[str]]:
    """Longest processing time first: the longest stack into the least loaded bin
    (ties: the lower bin). Ties between stacks: by name."""
    order = sorted(members, key=lambda s: (-estimates[s.name], s.name))
    heap = [(0.0, index) for index in range(bins)]
    groups: list[list[str]] = [[] for _ in range(bins)]
    for stack in order:
        load, index = heapq.heappop(heap)
        groups[index].append(stack.name)
        heapq.heappush(heap, (load + estimates[stack.name], index))
    return groups


def build_matrix(stacks: Sequence[MatrixStack], *, max_jobs: int = ACTIONS_MATRIX_LIMIT) -> Matrix:
    """The GitHub Actions matrix that checks ``stacks``, in at most ``max_jobs`` entries.

    Contract, rule by rule:

    1. ``max_jobs`` is between the number of tiers present and 256 (Actions' limit),
       else ValueError; names are distinct, else ValueError. No stack: no entry.
    2. A stack's estimate is its ``seconds``; unknown ones get the median of the
       known ones, or :data:`DEFAULT_SECONDS` when none is known.
    3. Stacks are grouped by tier. Each tier present gets one entry, the rest of the
       budget goes one entry at a time to the tier with the most estimated seconds
       per entry (proportional to time); a tier never gets more entries than stacks.
    4. Within a tier, stacks are packed longest first into the least loaded entry
       (ties: lower entry; equal estimates: by name), so no entry is empty.
    5. Entries are sorted by tier rank (critical first), then shard index; names
       within an entry are sorted. Same input, same matrix.
    """
    if not 1 <= max_jobs <= ACTIONS_MATRIX_LIMIT:
        raise ValueError(
            f"max_jobs {max_jobs}: GitHub Actions runs 1 to {ACTIONS_MATRIX_LIMIT} jobs per matrix"
        )
    _deal_order([(s.name, s.tier.value) for s in stacks])  # distinct names
    by_tier: dict[RiskTier, list[MatrixStack]] = {}
    for stack in stacks:
        by_tier.setdefault(stack.tier, []).append(stack)
    present = sorted(by_tier, key=lambda tier: tier.rank)
    if max_jobs < len(present):
        raise ValueError(
            f"max_jobs {max_jobs}: the stacks span {len(present)} risk tiers "
            f"({', '.join(present)}) and each tier needs its own entry; allow at least "
            f"{len(present)}"
        )
    estimates = _estimates(stacks)
    tiers = [
        (tier, sum(estimates[s.name] for s in by_tier[tier]), len(by_tier[tier]))
        for tier in present
    ]
    entries = _allocate(tiers, max_jobs)
    include: list[MatrixEntry] = []
    for tier in present:
        groups = _pack(by_tier[tier], estimates, entries[tier])
        for index, group in enumerate(groups, start=1):
            names = sorted(group)
            include.append(
                MatrixEntry(
                    tier=tier,
                    shard=f"{index}/{len(groups)}",
                    stacks=" ".join(names),
                    count=len(names),
                    estimatedSeconds=round(sum(estimates[name] for name in names), 1),
                )
            )
    return Matrix(include=include)
