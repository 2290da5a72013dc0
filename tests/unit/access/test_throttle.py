"""The bad-token slow-down: per client address, doubling waits with a cap, bounded memory."""

from __future__ import annotations

from intake.access.throttle import BadTokenThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_free_attempts_then_doubling_waits_up_to_the_cap() -> None:
    clock = Clock()
    throttle = BadTokenThrottle(free=3, base_wait=1, max_wait=8, clock=clock)
    assert [throttle.failed("10.0.0.1") for _ in range(3)] == [0, 0, 0]
    waits = []
    for _ in range(6):
        waits.append(throttle.failed("10.0.0.1"))
        clock.now += waits[-1]  # the client waited as told, then failed again
    assert waits == [1, 2, 4, 8, 8, 8]


def test_an_attacker_slows_only_its_own_address() -> None:
    clock = Clock()
    throttle = BadTokenThrottle(free=2, clock=clock)
    for _ in range(50):
        throttle.failed("203.0.113.9")
    assert throttle.wait("203.0.113.9") > 0
    assert throttle.wait("198.51.100.7") == 0  # the agent elsewhere is not blocked


def test_a_good_token_clears_the_address_and_old_failures_expire() -> None:
    clock = Clock()
    throttle = BadTokenThrottle(free=1, window=60, clock=clock)
    throttle.failed("a")
    assert throttle.failed("a") > 0
    throttle.succeeded("a")
    assert throttle.wait("a") == 0 and throttle.failed("a") == 0
    clock.now += 61  # outside the window: counting starts again
    assert throttle.failed("a") == 0


def test_a_spray_of_addresses_costs_bounded_memory() -> None:
    throttle = BadTokenThrottle(max_clients=100, clock=Clock())
    for n in range(10_000):
        throttle.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert len(throttle._records) == 100
