from __future__ import annotations

import pytest

from sluice_cli.dlq.rate import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_bucket_allows_its_burst_then_paces_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(4.0, capacity=4, clock=clock, sleep=clock.sleep)

    for _ in range(3):
        bucket.acquire(4)

    assert clock.slept == [1.0, 1.0]
    assert clock.now == pytest.approx(102.0)


def test_bucket_paces_single_tokens_below_one_a_second() -> None:
    clock = Clock()
    bucket = TokenBucket(0.5, capacity=1, clock=clock, sleep=clock.sleep)

    for _ in range(3):
        bucket.acquire()

    assert clock.slept == [2.0, 2.0]


def test_idle_time_refills_up_to_capacity_only() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, capacity=5, clock=clock, sleep=clock.sleep)
    bucket.acquire(5)
    clock.now += 60

    bucket.acquire(5)
    bucket.acquire(5)

    assert clock.slept == [0.5]


@pytest.mark.parametrize(("rate", "capacity", "tokens"), [(0, 1, 1), (1, 0, 1), (1, 2, 3)])
def test_bucket_rejects_impossible_requests(rate: float, capacity: int, tokens: int) -> None:
    with pytest.raises(ValueError, match=r"must be|can take"):
        TokenBucket(rate, capacity=capacity).acquire(tokens)
