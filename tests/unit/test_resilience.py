"""Retry, rate limit and circuit breaker, with plain numbers for time."""

from __future__ import annotations

from iacdrift.core.resilience import (
    Backoff,
    CircuitBreaker,
    RateLimiter,
    is_endpoint_failure,
    is_transient,
)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    backoff = Backoff(attempts=5, base=1.0, cap=5.0)
    assert [backoff.delay(n, lambda: 1.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.delay(3, lambda: 0.25) == 1.0
    assert backoff.delay(3, lambda: 0.0) == 0.0


def test_rate_limiter_allows_a_burst_then_spaces_starts_per_endpoint() -> None:
    limiter = RateLimiter(rate=2.0, burst=2)
    assert limiter.reserve("a", 0.0) == 0.0
    assert limiter.reserve("a", 0.0) == 0.0
    assert limiter.reserve("a", 0.0) == 0.5  # third start waits for a token
    assert limiter.reserve("b", 0.0) == 0.0  # other endpoints are independent
    assert limiter.reserve("a", 10.0) == 0.0  # refilled (up to the burst)


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_cooldown() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=60.0)
    for now in (0.0, 1.0):
        breaker.record_failure("e", "connection refused", now)
        assert breaker.allow("e", now)
    breaker.record_failure("e", "connection refused", 2.0)
    assert breaker.is_open("e") and not breaker.allow("e", 3.0)
    assert breaker.reason("e") == "connection refused"
    assert breaker.allow("other", 3.0)
    # After the cooldown one trial call passes; a second caller still waits.
    assert breaker.allow("e", 70.0)
    assert not breaker.allow("e", 70.5)
    breaker.record_failure("e", "still refused", 71.0)  # trial failed: open again
    assert not breaker.allow("e", 72.0)
    assert breaker.allow("e", 140.0)
    breaker.record_success("e")
    assert not breaker.is_open("e") and breaker.allow("e", 141.0)


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(threshold=2)
    breaker.record_failure("e", "timeout", 0.0)
    breaker.record_success("e")
    breaker.record_failure("e", "timeout", 1.0)
    assert not breaker.is_open("e")


def test_transient_and_endpoint_failures_are_told_apart() -> None:
    assert is_transient("ThrottlingException: Rate exceeded")
    assert is_transient("read: connection reset by peer")
    assert not is_transient("AccessDenied: not authorized to perform s3:GetObject")
    assert is_endpoint_failure("dial tcp 127.0.0.1:1: connect: connection refused")
    assert not is_endpoint_failure("ThrottlingException: Rate exceeded")


def test_reservations_queue_up_instead_of_starving() -> None:
    """Three workers reserving at once wait 0, 0, 0.25 s: each reservation is final."""
    limiter = RateLimiter(rate=4.0, burst=2)
    waits = [limiter.reserve("e", 0.0) for _ in range(5)]
    assert waits == [0.0, 0.0, 0.25, 0.5, 0.75]
