"""Sluice infrastructure as an AWS CDK v2 app: one construct per concern, composed by one stack.

Modules: ``config`` (stages, connection budget), ``build`` (``make build``: Lambda assets without Docker),
``network``, ``database``, ``queues``, ``consumer``, ``ingest``, ``migrations``, ``monitoring`` (one construct
each), ``stack`` (composition and grants), ``nag`` (acknowledged cdk-nag findings) and ``app`` (the CDK app).
Importing the package imports none of them: ``make build`` never starts jsii.
"""

from __future__ import annotations

__all__: list[str] = []
