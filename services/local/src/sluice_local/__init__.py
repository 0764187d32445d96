"""The whole pipeline on one machine: an embedded SQS endpoint, PostgreSQL, the ingest and consumer functions.

:class:`LocalPipeline` is the Python API (tests drive it directly); :data:`app` is ``sluice local``.
"""

from __future__ import annotations

from sluice_local.commands import app
from sluice_local.pipeline import LocalPipeline, PipelineConfig, PipelineFailedError, PipelineNotDrainedError

__all__ = ["LocalPipeline", "PipelineConfig", "PipelineFailedError", "PipelineNotDrainedError", "app"]
