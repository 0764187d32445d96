"""Checks of a built asset: what it must hold and must not, Lambda's size limit, and its zipped size."""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING

from sluice_cdk.asset_spec import LAMBDA_UNZIPPED_LIMIT_BYTES, RUNTIME_PROVIDED, BuildError

if TYPE_CHECKING:
    from pathlib import Path

    from sluice_cdk.asset_spec import FunctionSpec

__all__ = ["check_asset", "zipped_size"]


def check_asset(path: Path, spec: FunctionSpec) -> int:
    """Return the asset's unzipped size after checking what it holds.

    Raises:
        BuildError: a required module is missing, another function's code or the runtime's SDK is inside, or
            the asset exceeds Lambda's 250 MB unzipped limit.
    """
    top_level = {entry.name.removesuffix(".py") for entry in path.iterdir()}
    problems = []
    if missing := sorted(set(spec.required) - top_level):
        problems.append(f"missing {', '.join(missing)}")
    if foreign := sorted(set(spec.forbidden) & top_level):
        problems.append(f"holds code that belongs elsewhere: {', '.join(foreign)}")
    if shadowing := sorted(set(RUNTIME_PROVIDED.values()) & top_level):
        problems.append(f"holds packages the Lambda runtime provides: {', '.join(shadowing)}")
    size = sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
    if size > LAMBDA_UNZIPPED_LIMIT_BYTES:
        problems.append(f"{size} bytes unzipped exceeds Lambda's limit of {LAMBDA_UNZIPPED_LIMIT_BYTES}")
    if problems:
        raise BuildError(f"{spec.name} asset at {path}: " + "; ".join(problems))
    return size


def zipped_size(path: Path) -> int:
    """Bytes of a zip of ``path`` deflated at zlib's default level (CDK's own archive may differ by a few %)."""
    counter = _ByteCounter()
    with zipfile.ZipFile(counter, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(path).as_posix())
    return counter.size


class _ByteCounter:
    """A write-only, unseekable stream that only counts (zipfile then writes data descriptors)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        """Nothing to release."""
