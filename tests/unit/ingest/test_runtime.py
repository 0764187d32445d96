"""The ingest function builds its SQS client as AWS users expect: ``AWS_REGION`` alone is enough."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from sluice_ingest import runtime
from sluice_ingest.settings import IngestSettings
from sluice_shared.aws import NO_REGION_MESSAGE
from sluice_shared.errors import ConfigurationError
from tests.support.aws import clear_aws_environment

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

LOCAL_QUEUE = "http://127.0.0.1:4566/000000000000/events"  # names no region


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    clear_aws_environment(monkeypatch, tmp_path)
    runtime.configure(IngestSettings(queue_url=LOCAL_QUEUE))
    yield
    runtime.configure()


def test_the_publisher_is_built_with_only_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    assert runtime.get_publisher() is runtime.get_publisher()


def test_without_any_region_the_function_is_misconfigured_and_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError) as caught:
        runtime.get_publisher()

    assert caught.value.message == NO_REGION_MESSAGE
