"""Retry, rate limiting and circuit breaking, as pure state machines.

Nothing here sleeps or reads the clock: callers pass ``now`` (monotonic
seconds) and a random source in, and do the sleeping themselves, so the
behaviour is tested with plain numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

# Messages of throttling and transient failures, from AWS and from the provider/
# backend errors Terraform prints. Matched case-insensitively.
_TRANSIENT = re.compile(
    r"throttl|rate exceeded|requestlimitexceeded|slowdown|slow down|toomanyrequests|"
    r"503|service unavailable|connection reset|connection refused|timeout|timed out|"
    r"eof|broken pipe|temporarily unavailable|internal ?error|500 internal",
    re.IGNORECASE,
)
# Failures that say the endpoint itself is unusable (they feed the breaker).
_ENDPOINT_DOWN = re.compile(
    r"connection refused|no such host|name resolution|unreachable|timed out|timeout|"
    r"503|service unavailable|eof",
    re.IGNORECASE,
)


def is_transient(message: str) -> bool:
    return bool(_TRANSIENT.search(message))


def is_endpoint_failure(message: str) -> bool:
    return bool(_ENDPOINT_DOWN.search(message))


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff with full jitter."""

    attempts: int = 3
    base: float = 1.0
    cap: float = 20.0

    def delay(self, attempt: int, random: Callable[[], float]) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return float(ceiling * random())


@dataclass
class RateLimiter:
    """A token bucket per endpoint: at most ``rate`` starts per second, bursts of
    ``burst``. ``reserve`` returns how long the caller must wait first."""

    rate: float
    burst: int = 2
    _tokens: dict[str, float] = field(default_factory=dict)
    _stamp: dict[str, float] = field(default_factory=dict)

    def reserve(self, endpoint: str, now: float) -> float:
        tokens = self._tokens.get(endpoint, float(self.burst))
        last = self._stamp.get(endpoint, now)
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        tokens -= 1.0
        self._tokens[endpoint] = tokens
        self._stamp[endpoint] = now
        return 0.0 if tokens >= 0 else -tokens / self.rate


@dataclass
class CircuitBreaker:
    """Stops calling an endpoint after ``threshold`` consecutive endpoint failures.

    Open for ``cooldown`` seconds; then one trial call is let through
    (half-open): success closes it, failure opens it again.
    """

    threshold: int = 3
    cooldown: float = 60.0
    _failures: dict[str, int] = field(default_factory=dict)
    _opened_at: dict[str, float] = field(default_factory=dict)
    _reasons: dict[str, str] = field(default_factory=dict)
    _trial: set[str] = field(default_factory=set)

    def allow(self, endpoint: str, now: float) -> bool:
        opened = self._opened_at.get(endpoint)
        if opened is None:
            return True
        if now - opened >= self.cooldown and endpoint not in self._trial:
            self._trial.add(endpoint)
            return True
        return False

    def reason(self, endpoint: str) -> str:
        return self._reasons.get(endpoint, "")

    def record_success(self, endpoint: str) -> None:
        self._failures.pop(endpoint, None)
        self._opened_at.pop(endpoint, None)
        self._trial.discard(endpoint)

    def record_failure(self, endpoint: str, reason: str, now: float) -> None:
        count = self._failures.get(endpoint, 0) + 1
        self._failures[endpoint] = count
        self._reasons[endpoint] = reason
        if count >= self.threshold or endpoint in self._trial:
            self._opened_at[endpoint] = now
            self._trial.discard(endpoint)

    def is_open(self, endpoint: str) -> bool:
        return endpoint in self._opened_at
