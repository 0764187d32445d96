"""Round-number inputs for the worked examples: a measured write path and a price sheet easy to compute with.

The shipped figures change whenever someone re-measures or AWS changes a price; these do not, so the hand
computations in the tests stay true.
"""

from __future__ import annotations

from typing import Any, Final

from sluice_cli.plan.files import price_sheet
from sluice_cli.plan.model import PriceSheet, WritePathResult

# Measured with 200-byte payloads: the write path at 10,000 rows/s in batches of 10 and 100,000 in batches of
# 1,000; the whole handler at 20,000 events/s in batches of 1,000.
MEASURED: Final = WritePathResult.model_validate(
    {
        "format": "sluice-bench-write-path/1",
        "measured_at": "2026-12-01T12:00:00+00:00",
        "machine": {"cpus": 2, "cpu_model": "test CPU", "postgresql": "15.0", "server": "127.0.0.1:5432"},
        "payload_bytes": 200,
        "write_path": [
            {"batch": 10, "rows_per_s": {"sluice": 10_000.0, "copy": 12_000.0}},
            {"batch": 1000, "rows_per_s": {"sluice": 100_000.0, "copy": 100_000.0}},
        ],
        "handler": [{"batch": 1000, "messages_per_s": 20_000.0}],
    }
)

PRICE_TABLE: Final[dict[str, Any]] = {
    "format": "sluice-prices/1",
    "currency": "USD",
    "as_of": "test",
    "source": "round numbers for the worked examples",
    "hours_per_month": 730,
    "regions": {
        "test-1": {
            "lambda": {"requests_per_million": 0.20, "gb_second": {"arm64": 0.00001, "x86_64": 0.00002}},
            "sqs": {"standard_requests_per_million": 0.40, "fifo_requests_per_million": 0.50},
            "rds": {
                "instance_hour": {"t4g.micro": 0.02, "t4g.small": 0.04, "m7g.large": 0.20, "m7g.xlarge": 0.40},
                "multi_az_factor": 2.0,
                "gp3_gb_month": 0.10,
                "proxy_vcpu_hour": 0.015,
                "proxy_minimum_vcpus": 2,
            },
            "vpc": {
                "nat_gateway_hour": 0.05,
                "nat_gateway_gb": 0.05,
                "interface_endpoint_hour": 0.01,
                "interface_endpoint_gb": 0.01,
                "cross_az_gb": 0.02,
            },
            "cloudwatch": {
                "alarm_month": 0.10,
                "dashboard_month": 3.00,
                "custom_metric_month": 0.30,
                "logs_ingested_gb": 0.50,
                "logs_stored_gb_month": 0.03,
            },
            "secrets_manager": {"secret_month": 0.40},
            "xray": {"traces_recorded_per_million": 5.00},
        }
    },
}
PRICES: Final[PriceSheet] = price_sheet(PRICE_TABLE, "test-1", name="worked examples")
