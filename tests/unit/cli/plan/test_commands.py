"""``sluice plan`` end to end through the CLI: the tables, ``--json``, ``--cdk-context``, errors, no AWS SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from sluice_cli.app import EXIT_USAGE, main
from sluice_cli.plan.arithmetic import make_plan
from sluice_cli.plan.model import Workload
from sluice_cli.plan.render import plan_document
from sluice_shared.plan_context import PLAN_CONTEXT_KEY, PlanContext
from tests.unit.cli.plan.worked import MEASURED, PRICE_TABLE, PRICES

if TYPE_CHECKING:
    from pathlib import Path

WORKED = ["plan", "--rate", "1000", "--peak-rate", "2000", "--payload-bytes", "800", "--region", "test-1"]


@pytest.fixture
def inputs(tmp_path: Path) -> list[str]:
    """The worked example's price table and measurement, as files the command reads."""
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICE_TABLE))
    bench = tmp_path / "write_path.json"
    bench.write_text(MEASURED.model_dump_json())
    return [*WORKED, "--prices", str(prices), "--bench-results", str(bench)]


def test_plan_prints_consumer_database_throughput_costs_and_total(
    inputs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(inputs)

    out = capsys.readouterr().out
    assert code == 0
    headings = [
        "Consumer (SQS event source and function)",
        "Database (RDS for PostgreSQL behind RDS Proxy)",
        "Throughput assumed (Sluice's own measurement on one machine, not an AWS figure)",
        "Monthly cost estimate (USD, test-1 list prices as of test)",
    ]
    assert [line for line in out.splitlines() if line in headings] == headings
    lines = {line.split()[0] + " " + line.split()[1]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["batch size"].split() == ["batch", "size", "1,000", "events"]
    assert lines["maximum concurrency"].split()[2:] == ["3", "environments"]
    assert lines["instance class"].split()[2] == "db.t4g.small"
    assert lines["total 1,083.60"]
    assert "Warnings" not in out


def test_plan_as_json_is_the_whole_plan(inputs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    expected = plan_document(
        make_plan(
            Workload(rate_per_s=1000, peak_rate_per_s=2000, payload_bytes=800, region="test-1"),
            measured=MEASURED,
            prices=PRICES,
        )
    )

    assert main([*inputs, "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["costs"]["total_usd_per_month"] == pytest.approx(1083.60, abs=0.01)
    # the file's source, laid over the shipped table's, and the file the measurement came from
    assert document["costs"]["prices_source"].startswith("round numbers for the worked examples (test), over: AWS")
    assert document["throughput"]["origin"].endswith("write_path.json")
    for section, key in (("costs", "prices_source"), ("throughput", "origin")):
        document[section][key] = expected[section][key]
    assert document == expected


def test_cdk_context_is_the_plan_the_stack_reads(inputs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*inputs, "--cdk-context", "--stage", "dev", "--single-az"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert list(document) == [PLAN_CONTEXT_KEY]
    context = PlanContext.from_context_value(document[PLAN_CONTEXT_KEY])
    assert context is not None
    assert (context.stage, context.multi_az, context.batch_size, context.max_concurrency) == ("dev", False, 1000, 3)
    assert document[PLAN_CONTEXT_KEY]["batchingWindowSeconds"] == 5


def test_prices_file_can_come_from_the_environment(
    inputs: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLUICE_PLAN_PRICES", str(tmp_path / "prices.json"))

    assert main([*inputs[: inputs.index("--prices")], *inputs[inputs.index("--bench-results") :], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["costs"]["region"] == "test-1"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--json", "--cdk-context"], "error: --json and --cdk-context are exclusive: choose one"),
        (["--max-latency", "0"], "error: cannot plan: --max-latency must be above 0 s"),
        (["--max-latency", "inf"], "error: cannot plan: --max-latency must be a finite number"),
        (["--peak-rate", "nan"], "error: cannot plan: --peak-rate must be a finite number"),
        (["--fifo"], "error: cannot plan: --fifo needs --groups N: the number of distinct message group ids in flight"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    inputs: list[str], arguments: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*inputs, *arguments])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert captured.err.strip().splitlines() == [error]
    assert captured.out == ""


def test_plan_works_offline_on_shipped_data_and_imports_no_aws_sdk() -> None:
    # A fresh interpreter: what `sluice plan` imports is not hidden by what other tests imported.
    probe = (
        "import contextlib, io, sys\n"
        "from sluice_cli.app import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = main(['plan', '--rate', '2000', '--payload-bytes', '1024'])\n"
        "print(code, 'boto3' in sys.modules, 'Monthly cost estimate' in out.getvalue())\n"
    )

    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)

    assert result.stdout.split() == ["0", "False", "True"]
