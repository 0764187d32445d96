"""The plan's arithmetic against worked examples computed by hand.

Inputs are the round numbers of ``worked.py``: write path 10,000 rows/s at batch 10 and 100,000 at batch 1,000,
handler 20,000 events/s at batch 1,000, all with 200-byte payloads. With 800-byte payloads (every example below
unless said otherwise):

    body   = 800 + 200 (envelope)                 = 1,000 bytes
    record = 1,000 + 1,024 (SQS record overhead)  = 2,024 bytes
    stored = 200 + 1.2 x 800                      = 1,160 bytes (below TOAST's 2,032)
    work   = (1,300 + 800) / (1,300 + 200)        = 1.4 x the measured per-event work
    event  = 1.4 / 20,000                         = 70 us per event at a full vCPU
    fixed  = 10 / 10,000 - 10 x (1 / 100,000)     = 0.9 ms per batch at a full vCPU
    t(b, m) = (0.0009 + b x 0.00007) x cpu(m) + 3 x 0.002 + b x 1,000 / 75,000,000,   cpu(m) = max(1, 1769 / m)

    t(1000, 1769) = 0.0709 + 0.006 + 0.013333             = 0.090233 s
    t(1000, 512)  = 0.0709 x 3.455078 + 0.019333          = 0.264298 s
    t(10, 512)    = 0.0016 x 3.455078 + 0.006 + 0.000133  = 0.011662 s
"""

from __future__ import annotations

import dataclasses

import pytest

from sluice_cli.plan.arithmetic import make_plan
from sluice_cli.plan.database import pinned_max_connections
from sluice_cli.plan.model import Plan, Workload
from sluice_cli.plan.throughput import event_sizes, interpolate, work_factor
from sluice_shared.capacity import INSTANCE_CLASSES
from sluice_shared.errors import ConfigurationError
from tests.unit.cli.plan.worked import MEASURED, PRICES

MONTH_S = 730 * 3600  # 2,628,000 s
GIB = 1024**3


def plan(**workload: object) -> Plan:
    values: dict[str, object] = {"rate_per_s": 1000.0, "peak_rate_per_s": 2000.0, "payload_bytes": 800}
    return make_plan(Workload(**(values | workload)), measured=MEASURED, prices=PRICES)  # type: ignore[arg-type]


def setting(result: Plan, name: str) -> object:
    (value,) = [s.value for s in (*result.consumer.settings, *result.database.settings) if s.name == name]
    return value


def test_event_sizes_and_work_factor_follow_the_formulas() -> None:
    assert event_sizes(800) == dataclasses.replace(event_sizes(800), body=1000, record=2024, stored=1160, toasted=False)
    assert work_factor(800, 200) == pytest.approx(1.4)
    # 2,000-byte payloads: stored 200 + 2,400 = 2,600 > 2,032, so TOAST's 1.6x on top of (3,300 / 1,500)
    assert event_sizes(2000).toasted
    assert work_factor(2000, 200) == pytest.approx(3300 / 1500 * 1.6)


def test_rates_are_interpolated_in_log_batch_and_clamped_outside_the_measurements() -> None:
    figures = [(10, 10_000.0), (1000, 100_000.0)]

    assert interpolate(figures, 100) == pytest.approx(55_000)  # log10(100) is halfway between 1 and 3
    assert interpolate(figures, 1) == 10_000
    assert interpolate(figures, 10_000) == 100_000


def test_pinned_max_connections_leave_the_memory_rds_keeps_out_and_round_down_to_tens() -> None:
    # (1 GiB - 256 MiB) / 9,531,392 = 84.5 -> 80; (8 GiB - 256 MiB) / 9,531,392 = 873.1 -> 870
    assert pinned_max_connections(INSTANCE_CLASSES["t4g.micro"]) == 80
    assert pinned_max_connections(INSTANCE_CLASSES["m7g.large"]) == 870


def test_standard_queue_worked_example_consumer() -> None:
    # 1,000 events/s, peak 2,000, 30 s latency target
    consumer = plan(max_latency_s=30.0).consumer

    # batch: 1,000 (preferred; 6 MB / 2,024 bytes would allow 3,108)
    assert consumer.batch_size == 1000
    # window: each of 5 pollers sees 200 events/s, fills 1,000 in 5 s; 30 - 1 - 0.09 = 28.9 s left -> 5 s
    assert consumer.batching_window_s == 5
    # memory: 512 MB keeps the target: worst latency 1 (delivery) + 5 (window) + 0.264298 = 6.264298 s
    assert consumer.memory_mib == 512
    assert consumer.latency_s == pytest.approx(6.264298, abs=1e-6)
    # timeout: 30 + 5 + 3 + 3 x (2.5 x 0.264298) = 39.98 -> 40, raised to the 60 s floor
    assert consumer.timeout_s == 60
    assert consumer.visibility_timeout_s == 6 * 60 + 5
    # concurrency: peak batches of min(1,000, 2,000 x 5 / 5) = 1,000; busy 2,000 / 1,000 x 0.264298 = 0.5286;
    # x2 = 1.06 -> 2 (AWS's minimum), raised to 3: the stack alarms at 80 % of consumers + 10 reserved, and
    # 80 % x (2 + 10) = 9.6 -> 10 would not lie above the reserve, 80 % x (3 + 10) = 10.4 -> 11 does
    assert consumer.busy_environments_at_peak == pytest.approx(0.528597, abs=1e-6)
    assert consumer.max_concurrency == 3


def test_standard_queue_worked_example_database() -> None:
    database = plan().database

    # per vCPU: 100,000 / 1.4 = 71,428.6 rows/s; written per row 1,160 x 2.5 = 2,900 bytes
    # t4g.micro: storage 87 Mbit/s = 10,875,000 B/s / 2,900 = 3,750 rows/s (< CPU 71,428.6 x 2 x 10 % = 14,286);
    # peak 2,000 > 50 % x 3,750 = 1,875: too small
    # t4g.small: storage 174 Mbit/s = 21,750,000 / 2,900 = 7,500 rows/s (< CPU 28,571); 2,000 <= 3,750: fits
    assert database.instance_type == "t4g.small"
    assert database.write_capacity_rows_s == pytest.approx(7500)
    assert database.peak_utilisation == pytest.approx(2000 / 7500)
    # budget: (2 GiB - 256 MiB) / 9,531,392 = 197.1 -> 190, proxy 90 % = 171; used 3 consumers + 10 reserved = 13
    assert (database.max_connections, database.proxy_connections, database.connections_used) == (190, 171, 13)
    # storage: 1,000 x 2,628,000 x 1,160 / 2^30 = 2,839.12 GiB a month; allocated 2,840 (a month),
    # autoscaling to 2,840 + 12 x 2,839.12 = 36,909.4 -> 36,910; 64 TiB in 23.1 months: no warning
    assert database.growth_gib_per_month == pytest.approx(1000 * MONTH_S * 1160 / GIB)
    assert (database.allocated_storage_gib, database.max_allocated_storage_gib) == (2840, 36910)


def test_standard_queue_worked_example_has_no_warning_and_its_context_says_the_same() -> None:
    result = plan()

    assert result.warnings == ()
    assert result.context.model_dump() == {
        "stage": "prod",
        "fifo": False,
        "batch_size": 1000,
        "batching_window_seconds": 5,
        "consumer_timeout_seconds": 60,
        "consumer_memory_mib": 512,
        "max_concurrency": 3,
        "instance_type": "t4g.small",
        "max_connections": 190,
        "proxy_max_connections_percent": 90,
        "reserved_connections": 10,
        "multi_az": True,
        "allocated_storage_gib": 2840,
        "max_allocated_storage_gib": 36910,
        "network": "endpoints",
        "nat_gateways": 0,
        "log_retention_days": 30,
        "tracing": True,
    }


def test_throughput_assumed_is_the_measured_handler_scaled_to_payload_and_memory() -> None:
    throughput = plan().throughput

    # 1,000 events in 0.264298 s at 512 MB: 3,783.6 events/s; 70 us x 3.455078 = 241.9 us per event
    assert throughput.environment_events_per_s == pytest.approx(1000 / 0.2642984, rel=1e-6)
    assert throughput.event_seconds == pytest.approx(0.00007 * 1769 / 512)
    assert throughput.database_rows_per_vcpu_s == pytest.approx(100_000 / 1.4)
    assert (throughput.handler_events_per_s, throughput.measured_payload_bytes) == (20_000, 200)


def test_fifo_worked_example_batches_ten_without_window_and_sizes_the_database_for_small_batches() -> None:
    # FIFO, 500 events/s, peak 1,000, 50 groups, 10 s latency target
    result = plan(rate_per_s=500.0, peak_rate_per_s=1000.0, fifo=True, groups=50, max_latency_s=10.0)
    consumer, database = result.consumer, result.database

    # batch 10, no window (AWS); latency 1 + 0.1 (one ReceiveMessage) + t(10, 512) = 1.111662 s -> 512 MB
    assert (consumer.batch_size, consumer.batching_window_s, consumer.memory_mib) == (10, 0, 512)
    assert consumer.latency_s == pytest.approx(1.1 + 0.0116615, abs=1e-6)
    # busy at peak: 1,000 / 10 x 0.0116615 = 1.166; x2 = 2.33 -> 3 (50 groups allow it)
    assert consumer.max_concurrency == 3
    assert consumer.visibility_timeout_s == 360
    # batches of 10 write at 10,000 rows/s: 7,142.9 per vCPU; t4g.micro 1,428.6 (10 % CPU, below its storage's
    # 3,750) -> 714 < 1,000; t4g.small 2,857.1 (20 %, storage 7,500) -> 1,428.6 >= 1,000
    assert database.instance_type == "t4g.small"
    assert database.peak_utilisation == pytest.approx(1000 / 2857.142857)
    # per group: 10 / 0.0116615 = 857.5 events/s, the peak needs 20: no warning
    assert result.warnings == ()


def test_fifo_beyond_the_queue_and_group_limits_is_warned_and_concurrency_capped_by_groups() -> None:
    result = plan(rate_per_s=2000.0, peak_rate_per_s=4000.0, fifo=True, groups=2)

    # 4,000 > 3,000 events/s (300 calls/s of 10); 4,000 / 2 = 2,000 per group > 857.5; 4,000 / 857.5 -> 5 groups;
    # and 2,000 x 2,628,000 x 1,160 / 2^30 = 5,678 GiB a month fill 64 TiB in 11.5 months
    assert [warning.split(":")[0] for warning in result.warnings] == [
        "FIFO queue throughput",
        "FIFO group throughput",
        "The events table grows 5,678 GiB a month and reaches RDS's 64 TiB limit in 11.5 months",
    ]
    assert "the peak needs 2,000 per group over 2 groups. Use at least 5 groups." in result.warnings[1]
    # busy 4,000 / 10 x 0.0116615 = 4.66, x2 = 9.3 -> 10, capped at 2 groups, raised to the stack's minimum of 3
    assert result.consumer.max_concurrency == 3


def test_latency_target_below_the_smallest_window_means_batches_of_ten() -> None:
    # 30 s minus delivery (1 s) and a full batch (0.09 s) leaves 0.41 s: no 1 s window fits
    result = plan(rate_per_s=10.0, peak_rate_per_s=10.0, max_latency_s=1.5)

    assert (result.consumer.batch_size, result.consumer.batching_window_s) == (10, 0)
    # one event per invocation at 10 events/s: 10 x 0.1 / 5 pollers = 0.2 -> 1
    assert result.consumer.batch_at_steady == 1
    assert result.warnings == (
        (
            "The latency target (1.5 s) is below the smallest batching window (1 s) that allows batches above 10: "
            "batches of at most 10, so many more invocations and SQS requests."
        ),
    )


def test_pinned_window_above_the_latency_target_is_warned_and_does_not_buy_memory() -> None:
    result = plan(rate_per_s=10.0, peak_rate_per_s=10.0, max_latency_s=5.0, batching_window_s=10)

    # 1 + 10 + t(20, 512) = 11.0 s > 5 s at any memory: the smallest size is kept
    assert result.consumer.memory_mib == 512
    assert [warning.split(" (")[0] for warning in result.warnings] == ["The latency target", "The latency target"]
    assert "is below the batching window (10 s)" in result.warnings[0]
    assert "cannot be met" in result.warnings[1]


def test_a_higher_peak_moves_to_the_cheapest_class_that_writes_it() -> None:
    database = plan(peak_rate_per_s=5000.0).database

    # t4g.micro 1,875 and t4g.small 3,750 (half their storage-bound 3,750 and 7,500) are short of 5,000;
    # m7g.large: storage 630 Mbit/s = 78,750,000 / 2,900 = 27,155 rows/s (CPU 142,857) -> 13,578
    assert database.instance_type == "m7g.large"
    assert database.write_capacity_rows_s == pytest.approx(78_750_000 / 2900)
    # busy 5,000 / 1,000 x 0.264298 = 1.32, x2 = 2.64 -> 3 consumers + 10 reserved
    assert database.connections_used == 13


def test_storage_reaching_64_tib_within_a_year_is_warned() -> None:
    result = plan(rate_per_s=3000.0, peak_rate_per_s=3000.0)

    # 3,000 x 2,628,000 x 1,160 / 2^30 = 8,517.4 GiB a month: 65,536 / 8,517.4 = 7.7 months
    assert result.warnings == (
        (
            "The events table grows 8,517 GiB a month and reaches RDS's 64 TiB limit in 7.7 months: add retention "
            "(time partitions dropped when expired) or archive."
        ),
    )


def test_more_consumers_than_iam_authentication_handles_reconnecting_is_warned() -> None:
    result = plan(rate_per_s=50_000.0, peak_rate_per_s=100_000.0, fifo=True, groups=1000)

    # busy 100,000 / 10 x 0.0116615 = 116.6, x2 -> 234 environments reconnecting after a failover > 200
    assert result.consumer.max_concurrency == 234
    assert any("above the 200 new connections/s AWS recommends for IAM" in warning for warning in result.warnings)
    # and no priced class writes 100,000 rows/s: the largest is named with its load
    assert any(warning.startswith("No instance class writes the peak") for warning in result.warnings)


def test_a_pinned_class_caps_the_concurrency_at_its_budget() -> None:
    result = plan(rate_per_s=50_000.0, peak_rate_per_s=100_000.0, fifo=True, groups=1000, instance_type="t4g.micro")

    # t4g.micro: 80 x 90 % = 72 proxy connections - 10 reserved = 62 consumers, not 234
    assert result.consumer.max_concurrency == 62
    assert result.context.max_concurrency == 62
    assert any("proxy budget admits 62 consumers, fewer than the 234" in warning for warning in result.warnings)


def test_pinned_memory_too_small_for_a_batch_is_warned() -> None:
    # 160 MB of runtime + 1,000 x 2,024 bytes x 8 = 175.4 MB > 128 MB
    result = plan(memory_mib=128)

    assert result.consumer.memory_mib == 128
    assert result.warnings[0].startswith("--memory 128 MB is below the ~175 MB a batch of 1,000 needs")


def test_large_payloads_cap_the_batch_at_the_invocation_payload_limit() -> None:
    # 8,000-byte payloads: records of 8,000 + 200 + 1,024 = 9,224 bytes; 6,291,456 / 9,224 = 682
    assert plan(payload_bytes=8000).consumer.batch_size == 682


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        ({"fifo": True, "groups": 4, "batch_size": 20}, r"--batch-size must be 1\.\.10 \(FIFO\)"),
        ({"fifo": True, "groups": 4, "batching_window_s": 5}, "FIFO event sources take no batching window"),
        ({"batch_size": 100, "batching_window_s": 0}, "batches above 10 need a batching window of at least 1 s"),
        ({"batching_window_s": 301}, r"--batching-window must be 0\.\.300 s"),
        ({"rate_per_s": 0.0}, "--rate must be above 0"),
        ({"rate_per_s": float("inf"), "peak_rate_per_s": float("inf")}, "--rate must be a finite number"),
        ({"peak_rate_per_s": 500.0}, "--peak-rate 500 is below --rate 1000"),
        ({"fifo": True}, "--fifo needs --groups N"),
        ({"groups": 3}, "--groups only applies to --fifo queues"),
        ({"payload_bytes": 2_000_000}, "--payload-bytes must be 2..1,031,992"),
        ({"log_retention_days": 31}, "--log-retention-days must be one of"),
        ({"instance_type": "x1.huge"}, "unknown instance type 'x1.huge'"),
        ({"memory_mib": 64}, r"--memory must be 128\.\.10,240 MB"),
        ({"stage": ""}, "--stage must name a stage"),
    ],
)
def test_impossible_inputs_are_refused_naming_the_option(workload: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        plan(**workload)
