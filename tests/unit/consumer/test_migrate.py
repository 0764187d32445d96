from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from sluice_consumer import migrate, runtime
from sluice_consumer.migrations import MigrationResult
from sluice_consumer.roles import WriterLogin
from sluice_consumer.settings import ConsumerSettings
from sluice_shared.errors import DatabaseAuthenticationError, DatabaseUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _settings() -> Iterator[None]:
    runtime.configure(ConsumerSettings(database_url="postgresql://u@db.invalid/app"))
    yield
    runtime.configure(None)


def _attempts(monkeypatch: pytest.MonkeyPatch, outcomes: list[Exception | MigrationResult]) -> list[str]:
    calls: list[str] = []

    def apply(conninfo: str, *, app_migrations: str | None) -> MigrationResult:
        assert app_migrations is None  # the settings name none
        calls.append(conninfo)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def configure_writer(conninfo: str, *, password: str | None) -> WriterLogin:
        calls.append(f"writer login at {conninfo}: {password}")
        return WriterLogin(password_set=password is not None, iam=False)

    monkeypatch.setattr(migrate, "apply_migrations_with_version", apply)
    monkeypatch.setattr(migrate, "configure_writer_login", configure_writer)
    return calls


def test_unavailable_database_is_retried_with_growing_delays_until_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    down = DatabaseUnavailableError("proxy target not available")
    calls = _attempts(monkeypatch, [down, down, down, MigrationResult(applied=["0001_events"], version=1)])
    clock = _Clock()

    run = migrate.migrate_with_retries(budget_s=120, sleep=clock.sleep, clock=clock)

    assert run.result.applied == ["0001_events"]
    # Four migration attempts, then the writer's login (IAM: no password) over the same owner's connection.
    assert calls == [calls[0]] * 4 + [f"writer login at {calls[0]}: None"]
    assert clock.sleeps == [2.0, 4.0, 8.0]


def test_database_unavailable_for_the_whole_budget_raises_the_last_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _attempts(monkeypatch, [DatabaseUnavailableError(f"down {i}") for i in range(10)])
    clock = _Clock()

    with pytest.raises(DatabaseUnavailableError, match="down 3"):
        migrate.migrate_with_retries(budget_s=20, sleep=clock.sleep, clock=clock)

    assert clock.sleeps == [2.0, 4.0, 8.0]


def test_refused_url_credentials_are_retried_like_any_transient_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = DatabaseAuthenticationError("password authentication failed")
    calls = _attempts(monkeypatch, [refused, refused, MigrationResult(applied=[], version=1)])
    clock = _Clock()

    run = migrate.migrate_with_retries(budget_s=60, sleep=clock.sleep, clock=clock)

    assert run.result.version == 1
    assert len(calls) == 4  # three migration attempts, then the writer's login
    assert clock.sleeps == [2.0, 4.0]


def test_handler_budget_comes_from_the_remaining_invocation_time(monkeypatch: pytest.MonkeyPatch) -> None:
    budgets: list[float] = []

    def fake(*, budget_s: float) -> migrate.MigrationRun:
        budgets.append(budget_s)
        return migrate.MigrationRun(MigrationResult(applied=[], version=1), WriterLogin(password_set=False, iam=True))

    class Context:
        function_name = "migrate"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:migrate"
        aws_request_id = "r-1"

        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    monkeypatch.setattr(migrate, "migrate_with_retries", fake)

    response = migrate.lambda_handler({"RequestType": "Create"}, Context())

    assert budgets == [300.0 - migrate.DEADLINE_MARGIN_S]
    assert response["schema_version"] == 1
    assert response["Data"]["Writer"] == "sluice_writer: IAM database authentication (rds_iam)"
