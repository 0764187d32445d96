from __future__ import annotations

import pytest

from sluice_shared.errors import ConfigurationError
from sluice_shared.topology import DEFAULT_TOPOLOGY, QueueTopology


def test_default_visibility_timeout_is_six_times_the_timeout_plus_the_window() -> None:
    topology = QueueTopology(consumer_timeout_seconds=60, batching_window_seconds=2)

    assert topology.effective_visibility_timeout_seconds == 362
    assert DEFAULT_TOPOLOGY.max_receive_count >= 5


def test_short_visibility_timeout_is_refused_with_the_numbers() -> None:
    topology = QueueTopology(consumer_timeout_seconds=60, batching_window_seconds=2, visibility_timeout_seconds=300)

    with pytest.raises(
        ConfigurationError, match=r"300 s is below 6 x consumer timeout \(60 s\) \+ batching window \(2 s\) = 362 s"
    ):
        topology.validate()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_receive_count": 2}, "maxReceiveCount must be at least 5"),
        ({"fifo": True, "batch_size": 11}, "batch size must be 1..10"),
        ({"batching_window_seconds": 0, "batch_size": 100}, "batch size must be 1..10"),
        ({"consumer_timeout_seconds": 901}, "consumer timeout"),
    ],
)
def test_rules_aws_documents_are_enforced(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        QueueTopology(**kwargs).validate()  # type: ignore[arg-type]
