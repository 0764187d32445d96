"""The monthly estimate against the worked example, line by line (prices and inputs in ``worked.py``).

Standard queue, 1,000 events/s steady (peak 2,000), 800-byte payloads (1,000-byte bodies), Multi-AZ, endpoints,
X-Ray tracing on (prod's defaults):
2,628,000 s x 1,000 = 2.628 billion events a month, in batches of 1,000 taking 0.264298 s at 512 MB (see
test_arithmetic.py).
"""

from __future__ import annotations

import pytest

from sluice_cli.plan.arithmetic import make_plan
from sluice_cli.plan.choices import Network
from sluice_cli.plan.costs import sqs_billed_requests
from sluice_cli.plan.model import Plan, Workload
from tests.unit.cli.plan.worked import MEASURED, PRICES

EVENTS = 1000 * 730 * 3600
GIB = 1024**3


def plan(**workload: object) -> Plan:
    values: dict[str, object] = {"rate_per_s": 1000.0, "peak_rate_per_s": 2000.0, "payload_bytes": 800}
    return make_plan(Workload(**(values | workload)), measured=MEASURED, prices=PRICES)  # type: ignore[arg-type]


def costs(result: Plan) -> dict[str, float]:
    return {f"{line.service}: {line.item}": line.usd_per_month for line in result.costs}


def test_sqs_bills_each_64_kib_of_a_call_as_one_request() -> None:
    # 10 x 1,000 bytes fit one 64 KiB chunk; 10 x 10,000 bytes need 2 (100,000 / 65,536 = 1.5)
    assert sqs_billed_requests(messages=1000, per_call=10, body_bytes=1000) == 100
    assert sqs_billed_requests(messages=1000, per_call=10, body_bytes=10_000) == 200


def test_worked_example_costs_line_by_line() -> None:
    lines = costs(plan())

    assert lines == pytest.approx(
        {
            # 2.628M invocations x $0.20 / million
            "Lambda: consumer requests": 2.628 * 0.20,
            # 2.628M x 0.264298 s x 0.5 GB = 347,288 GB-s x $0.00001
            "Lambda: consumer duration": 2_628_000 * 0.2642984 * 0.5 * 0.00001,
            # 262.8M calls of 10 each (10,000 bytes: one chunk) x $0.40 / million
            "SQS: standard sends": 262.8 * 0.40,
            "SQS: standard receives": 262.8 * 0.40,
            "SQS: standard deletes": 262.8 * 0.40,
            # 5 pollers x 2,628,000 s / 20 s = 657,000 empty long polls
            "SQS: standard empty polls": 0.657 * 0.40,
            # $0.04 x 730 h x 2 (Multi-AZ)
            "RDS: db.t4g.small (Multi-AZ)": 0.04 * 730 * 2,
            # 2,840 GB allocated after a month x $0.10 x 2
            "RDS: gp3 storage (Multi-AZ)": 2840 * 0.10 * 2,
            # 2 vCPUs x $0.015 x 730 h
            "RDS Proxy: proxy": 2 * 0.015 * 730,
            # SQS, Secrets Manager and X-Ray endpoints in 2 AZs: 6 x $0.01 x 730 h
            "VPC: interface endpoints": 6 * 0.01 * 730,
            # 2.628 billion x 1,000 bytes = 2,447.5 GB crossing once x $0.02
            "VPC: cross-AZ data": EVENTS * 1000 / GIB * 0.02,
            # 8 alarms x $0.10 + 1 dashboard x $3 + 10 metrics x $0.30
            "CloudWatch: alarms, dashboard, metrics": 0.8 + 3 + 3.0,
            # 2.628M invocations x 2,000 bytes = 4.895 GB x $0.50, kept 30 of 30.42 days x $0.03
            "CloudWatch: logs ingested": 2_628_000 * 2000 / GIB * 0.50,
            "CloudWatch: logs stored": 2_628_000 * 2000 / GIB * 30 / (730 / 24) * 0.03,
            "Secrets Manager: database secret": 0.40,
            # one trace per invocation: 2.628M x $5 / million
            "X-Ray: traces recorded": 2.628 * 5.0,
        },
        rel=1e-6,
    )
    assert plan().total_usd_per_month == pytest.approx(1083.60, abs=0.01)


def test_fifo_requests_cost_fifo_prices_and_batches_of_ten_mean_more_invocations() -> None:
    lines = costs(plan(rate_per_s=500.0, peak_rate_per_s=1000.0, fifo=True, groups=50, max_latency_s=10.0))

    # 1.314 billion events: 131.4M invocations of 10; 131.4M sends of 10 at $0.50 / million
    assert lines["Lambda: consumer requests"] == pytest.approx(131.4 * 0.20)
    assert lines["SQS: FIFO sends"] == pytest.approx(131.4 * 0.50)


def test_single_az_nat_and_ingest_change_their_own_lines() -> None:
    lines = costs(
        plan(
            multi_az=False,
            network=Network.NAT,
            nat_gateways=1,
            ingest_events_per_request=100,
            storage_months=3,
            tracing=False,
        )
    )

    assert lines["RDS: db.t4g.small (single-AZ)"] == pytest.approx(0.04 * 730)
    # storage priced after 3 months: 3 x 2,839.12 GiB
    assert lines["RDS: gp3 storage (single-AZ)"] == pytest.approx(3 * 1000 * 730 * 3600 * 1160 / GIB * 0.10)
    assert lines["VPC: NAT gateways"] == pytest.approx(0.05 * 730)
    assert "VPC: interface endpoints" not in lines
    assert "X-Ray: traces recorded" not in lines
    # 26.28M ingest requests of 100 events; each 5 ms + 10 SendMessageBatch calls x 10 ms + 100 x 70 us x
    # (1,769 / 256) = 0.153371 s at 256 MB
    assert lines["Lambda: ingest requests"] == pytest.approx(26.28 * 0.20)
    assert lines["Lambda: ingest duration"] == pytest.approx(
        26_280_000 * (0.005 + 0.1 + 100 * 0.00007 * 1769 / 256) * 0.25 * 0.00001
    )
