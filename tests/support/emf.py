"""What a function published as CloudWatch Embedded Metric Format documents (Powertools prints them on stdout)."""

from __future__ import annotations

import json
from typing import Any


def emf_documents(stdout: str) -> list[dict[str, Any]]:
    """The EMF documents in ``stdout``, in order (other lines, such as logs, are skipped)."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]


def published_metrics(stdout: str) -> list[tuple[str, dict[str, list[float]]]]:
    """Each EMF document in ``stdout`` as its ``service`` dimension and its metric values by name."""
    return [
        (document["service"], {name: document[name] for name in _metric_names(document)})
        for document in emf_documents(stdout)
    ]


def _metric_names(document: dict[str, Any]) -> list[str]:
    return [metric["Name"] for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
