"""The price table and the write-path measurement: shipped ones load, the user's replace them, bad ones are named."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from sluice_cli.plan.files import load_measurement, load_prices, merge, price_sheet
from sluice_cli.plan.model import WritePathResult
from sluice_shared.capacity import INSTANCE_CLASSES
from sluice_shared.errors import ConfigurationError
from tests.benchmarks import bench_write_path
from tests.unit.cli.plan.worked import PRICE_TABLE

if TYPE_CHECKING:
    from pathlib import Path


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_shipped_prices_cover_every_instance_class_and_say_where_they_come_from() -> None:
    sheet = load_prices("us-east-1")

    assert set(sheet.rds.instance_hour) == set(INSTANCE_CLASSES)
    assert (sheet.as_of, sheet.currency, sheet.hours_per_month) == ("2025", "USD", 730)
    assert "aws.amazon.com" in sheet.source
    assert "without a live lookup" in sheet.source


@pytest.mark.parametrize("region", ["us-east-2", "us-west-2"])
def test_regions_priced_like_us_east_1_resolve_to_its_prices(region: str) -> None:
    sheet = load_prices(region)

    assert sheet.region == region
    assert sheet.model_dump(exclude={"region"}) == load_prices("us-east-1").model_dump(exclude={"region"})


def test_a_region_without_prices_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"no prices for region 'eu-west-9' \(known: us-east-1, us-east-2"):
        load_prices("eu-west-9")


def test_a_partial_price_file_changes_only_what_it_names(tmp_path: Path) -> None:
    # given a reserved-instance price for one class, and a region priced like us-east-1 but for one item
    override = write(
        tmp_path / "prices.json",
        {
            "source": "our 1-year reserved instances",
            "as_of": "2026-11",
            "regions": {
                "us-east-1": {"rds": {"instance_hour": {"m7g.large": 0.11}}},
                "eu-central-9": {"same_as": "us-east-1", "sqs": {"standard_requests_per_million": 0.45}},
            },
        },
    )

    # when
    sheet = load_prices("us-east-1", override=override)
    other = load_prices("eu-central-9", override=override)

    # then
    assert sheet.rds.instance_hour["m7g.large"] == 0.11
    assert sheet.rds.instance_hour["t4g.micro"] == load_prices("us-east-1").rds.instance_hour["t4g.micro"]
    assert sheet.source.startswith("our 1-year reserved instances (2026-11), over: AWS public on-demand list prices")
    assert sheet.as_of == "2026-11"
    assert other.sqs.standard_requests_per_million == 0.45
    assert other.rds.instance_hour["m7g.large"] == 0.11


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not JSON"),
        ([1, 2], "expected a JSON object"),
        ({"format": "prices/9"}, "format must be 'sluice-prices/1'"),
        ({"regions": {"us-east-1": {"sqs": {"standard_requests_per_million": -1}}}}, "greater than or equal to 0"),
        ({"regions": {"us-east-1": {"cloudwatch": {"alarms": 1}}}}, "cloudwatch.alarms: Extra inputs"),
    ],
)
def test_a_bad_price_file_is_refused_naming_the_file_and_the_field(tmp_path: Path, document: Any, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))

    with pytest.raises(ConfigurationError, match=message) as raised:
        load_prices("us-east-1", override=path)
    assert str(path) in str(raised.value)


def test_a_missing_price_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read .*missing\.json: No such file"):
        load_prices("us-east-1", override=tmp_path / "missing.json")


def test_a_same_as_loop_is_refused() -> None:
    table = merge(PRICE_TABLE, {"regions": {"a": {"same_as": "b"}, "b": {"same_as": "a"}}})

    with pytest.raises(ConfigurationError, match="same_as loop: a -> b -> a"):
        price_sheet(table, "a", name="loop.json")


def test_merge_replaces_values_and_merges_objects() -> None:
    assert merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]}) == {"a": {"b": 1, "c": 3}, "d": [2]}


def test_the_shipped_measurement_says_where_and_when_it_was_measured() -> None:
    measured = load_measurement()

    assert measured.origin == "shipped write_path.json"
    assert measured.machine["cpus"] >= 1
    assert {"cpu_model", "postgresql", "psycopg", "server", "load_average"} <= set(measured.machine)
    assert [figure.batch for figure in measured.write_path] == [10, 100, 1000, 10_000]
    assert measured.sluice_rows_per_s()[0][0] == 10


def test_the_benchmark_writes_what_the_plan_reads(tmp_path: Path) -> None:
    # given the document bench_write_path.py writes after its runs
    document = bench_write_path.results_document(
        machine=bench_write_path.machine("postgresql://u@db.example:6432/x", "17.2"),
        write_path=[{"batch": 10, "rows_per_s": {"sluice": 9000.0}}, {"batch": 1000, "rows_per_s": {"sluice": 9e4}}],
        handler=[{"batch": 1000, "messages_per_s": 30_000.0}],
    )

    # when the plan reads it back
    measured = load_measurement(write(tmp_path / "write_path.json", document))

    # then
    assert isinstance(measured, WritePathResult)
    assert measured.origin == str(tmp_path / "write_path.json")
    assert measured.payload_bytes == len(bench_write_path.PAYLOAD)
    assert measured.machine["server"] == "db.example:6432"  # host and port only, never credentials
    assert measured.sluice_rows_per_s() == [(10, 9000.0), (1000, 90_000.0)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other/1"}, "format: Input should be 'sluice-bench-write-path/1'"),
        ({"handler": []}, "handler: List should have at least 1 item"),
        ({"write_path": [{"batch": 10, "rows_per_s": {"copy": 1.0}}]}, "no 'sluice' rows/s figure"),
    ],
)
def test_a_bad_bench_result_is_refused(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    document = json.loads(load_measurement().model_dump_json()) | change

    with pytest.raises(ConfigurationError, match=message):
        load_measurement(write(tmp_path / "bench.json", document))
