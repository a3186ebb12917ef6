"""The GitHub Actions matrix that `iacdrift ci matrix` prints (built by
:mod:`iacdrift.ci.matrix`)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from iacdrift.models.registry import NAME_PATTERN, RiskTier

# GitHub Actions refuses a matrix that expands to more than 256 jobs.
ACTIONS_MATRIX_LIMIT = 256

_SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatrixStack(_Strict):
    """One stack to place in the matrix: what :func:`build_matrix` reads."""

    name: str = Field(pattern=NAME_PATTERN, description="The stack's registry name.")
    tier: RiskTier = Field(description="The stack's spec.riskTier.")
    seconds: float | None = Field(
        default=None,
        ge=0,
        description="Wall-clock seconds of the stack's last check (StackResult.timings."
        "totalSeconds from the run history); None (or 0, the unmeasured default) when "
        "unknown: the median of the known ones is assumed.",
    )


class MatrixEntry(_Strict):
    """One job of a sweep: the stacks of one shard of one risk tier."""

    tier: RiskTier = Field(description="The risk tier of every stack of the entry.")
    shard: str = Field(
        pattern=_SHARD.pattern,
        description="I/N: the I-th of the N entries of this tier (1-based).",
        examples=["2/5"],
    )
    stacks: str = Field(
        min_length=1,
        description="The stack names, sorted, separated by single spaces, so that a "
        "workflow step can split them into `--stack NAME` arguments (names never hold "
        "spaces: lowercase letters, digits and dashes).",
        examples=["prod-app prod-network"],
    )
    count: int = Field(ge=1, description="How many stacks `stacks` names.")
    estimatedSeconds: float = Field(
        ge=0,
        description="The sum of the stacks' estimated check times (last check, else "
        "the median of the known ones), rounded to 0.1 s.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MatrixEntry:
        names = self.stacks.split(" ")
        if names != sorted(set(names)) or "" in names:
            raise ValueError("stacks: write distinct names, sorted, separated by one space")
        if len(names) != self.count:
            raise ValueError(f"count: {self.count} but stacks names {len(names)}")
        parse_shard(self.shard)  # 1 <= I <= N
        return self

    @property
    def names(self) -> list[str]:
        return self.stacks.split(" ")


class Matrix(_Strict):
    """What ``iacdrift ci matrix`` prints: a GitHub Actions ``strategy.matrix``.

    Serialised with ``model_dump_json()`` it is ``{"include": [{"tier": "critical",
    "shard": "1/2", "stacks": "a b", "count": 2, "estimatedSeconds": 240.0}, ...]}``,
    ready for ``strategy.matrix: ${{ fromJSON(...) }}``. It has no ``schemaVersion``
    on purpose: every other top-level key of a matrix is a matrix dimension to
    Actions. Entries are sorted by tier rank (critical first), then shard index;
    every stack is in exactly one entry; at most 256 entries (Actions' limit).
    """

    include: list[MatrixEntry] = Field(
        default_factory=list,
        max_length=ACTIONS_MATRIX_LIMIT,
        description="One entry per job. Empty when no stack is to be checked (a "
        "workflow must then skip the job: Actions refuses an empty matrix).",
    )

    def of_tier(self, tier: RiskTier) -> Matrix:
        """The entries of one tier (the matrix of that tier's job)."""
        return Matrix(include=[entry for entry in self.include if entry.tier is tier])

    def stack_names(self) -> list[str]:
        """Every stack of the matrix, sorted by name."""
        return sorted(name for entry in self.include for name in entry.names)


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/5"`` -> ``(2, 5)``; ValueError unless it reads I/N with 1 <= I <= N."""
    match = _SHARD.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a shard: write I/N, e.g. 2/5 (the 2nd of 5)")
    index, count = int(match.group(1)), int(match.group(2))
    check_shard(index, count)
    return index, count


def check_shard(index: int, count: int) -> None:
    if count < 1:
        raise ValueError(f"shard {index}/{count}: the shard count must be at least 1")
    if not 1 <= index <= count:
        raise ValueError(
            f"shard {index}/{count}: the index must be between 1 and {count} "
            f"(shards are numbered from 1, e.g. 1/{count} to {count}/{count})"
        )
