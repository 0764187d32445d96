"""The process environment the local pipeline sets while it runs (the only place it touches ``os.environ``).

The handlers run in-process and build boto3 clients from boto3's standard configuration, so while a pipeline
runs its process points that configuration at the embedded SQS endpoint with fake credentials (moto accepts
any), and turns off Powertools' CloudWatch EMF metrics output (nothing collects it locally). Everything is
restored when the pipeline stops. ``sluice local up`` owns its process, so this is safe there; tests that
embed a pipeline get the variables back as they were.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

__all__ = ["LOCAL_CREDENTIALS", "LOCAL_REGION", "client_environment", "local_environment", "metrics_disabled"]

LOCAL_REGION: Final = "us-east-1"
# moto accepts any credentials; fixed fake ones keep boto3 from looking for (and sending) real ones.
LOCAL_CREDENTIALS: Final = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# Removed while the pipeline runs: a profile or session token from the shell must not reach the local endpoint.
_SHADOWED: Final = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")


def client_environment(endpoint_url: str, *, region: str = LOCAL_REGION) -> dict[str, str]:
    """The standard AWS variables that point boto3 (and the ``aws`` CLI) at the local SQS endpoint."""
    return {
        "AWS_ENDPOINT_URL_SQS": endpoint_url,
        **LOCAL_CREDENTIALS,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


@contextmanager
def local_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` (and hide a shell's AWS profile, session token and global endpoint) until exit."""
    saved = {name: os.environ.get(name) for name in (*values, *_SHADOWED)}
    try:
        for name in _SHADOWED:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def metrics_disabled() -> dict[str, str]:
    """Powertools' switch for its EMF metrics output (printed to stdout on every invocation otherwise)."""
    return {"POWERTOOLS_METRICS_DISABLED": "true"}
