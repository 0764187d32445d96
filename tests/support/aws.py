"""An environment with no AWS configuration at all, for tests of how clients find their region and endpoint."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def clear_aws_environment(monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> None:
    """Remove every ``AWS_*`` variable and hide the AWS config files; keep only fake credentials.

    botocore resolves credentials when it builds a client (from nowhere else it would ask the instance metadata
    service); fake ones say nothing about region or endpoint. boto3's default session caches the config files it
    read first, so the next client gets a fresh one.
    """
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_dir / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config_dir / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
