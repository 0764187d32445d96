"""Sluice infrastructure as an AWS CDK v2 app: one construct per concern, composed by one stack."""

from __future__ import annotations

__all__: list[str] = []
