"""The plan's two input files: the price table and the write-path measurement. The only I/O of ``sluice plan``.

Both ship as package data (``sluice_cli/plan/data/``) and both can be replaced by the user's own:

- ``--prices FILE``: a price table (format ``sluice-prices/1``), complete or partial, laid over the shipped one
  key by key. A region may say ``"same_as": "us-east-1"`` to take another region's prices and change some.
- ``--bench-results FILE``: what ``tests/benchmarks/bench_write_path.py`` (``make bench``) writes, format
  ``sluice-bench-write-path/1`` (:class:`~sluice_cli.plan.model.WritePathResult`).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from sluice_cli.plan.model import PriceSheet, WritePathResult
from sluice_shared.errors import ConfigurationError

__all__ = ["PRICES_FORMAT", "load_measurement", "load_prices", "merge", "price_sheet"]

PRICES_FORMAT: Final = "sluice-prices/1"
_DATA: Final = "data"
_SHIPPED_PRICES: Final = "prices.json"
_SHIPPED_MEASUREMENT: Final = "write_path.json"
_SHEET_KEYS: Final = ("currency", "as_of", "source", "hours_per_month")


def _shipped(name: str) -> tuple[str, bytes]:
    resource = resources.files("sluice_cli.plan").joinpath(_DATA, name)
    return f"shipped {name}", resource.read_bytes()


def _read(path: Path) -> tuple[str, bytes]:
    try:
        return str(path), path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _json_object(name: str, raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigurationError(f"{name}: expected a JSON object")
    return document


def _explain(name: str, exc: ValidationError) -> ConfigurationError:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'document'}: {error['msg']}" for error in exc.errors()[:5]
    )
    return ConfigurationError(f"{name}: {problems}")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` laid over it: nested objects are merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def price_sheet(table: dict[str, Any], region: str, *, name: str) -> PriceSheet:
    """One region's :class:`PriceSheet` out of a price ``table`` (its ``same_as`` chain resolved).

    Raises:
        ConfigurationError: an unknown format or region, a ``same_as`` loop, or a missing or bad price.
    """
    if table.get("format") != PRICES_FORMAT:
        raise ConfigurationError(f"{name}: format must be {PRICES_FORMAT!r}")
    regions = table.get("regions")
    if not isinstance(regions, dict) or region not in regions:
        known = ", ".join(sorted(regions)) if isinstance(regions, dict) else "none"
        raise ConfigurationError(
            f"{name}: no prices for region {region!r} (known: {known}); pass --prices FILE with that region"
        )
    prices: dict[str, Any] = {}
    seen: list[str] = []
    current: str | None = region
    while current is not None:
        if current in seen:
            raise ConfigurationError(f"{name}: same_as loop: {' -> '.join([*seen, current])}")
        seen.append(current)
        entry = regions.get(current)
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{name}: region {current!r} (named by same_as) has no prices")
        prices = merge(entry, prices)
        current = entry.get("same_as")
    prices = {key: value for key, value in prices.items() if key not in {"same_as", "note"}}
    sheet = {"region": region, **{key: table.get(key) for key in _SHEET_KEYS}, **prices}
    try:
        return PriceSheet.model_validate(sheet)
    except ValidationError as exc:
        raise _explain(name, exc) from exc


def load_prices(region: str, *, override: Path | None = None) -> PriceSheet:
    """The shipped price table, with ``override`` laid over it, for ``region``.

    Raises:
        ConfigurationError: the override cannot be read or parsed, or the region has no (valid) prices.
    """
    name, raw = _shipped(_SHIPPED_PRICES)
    table = _json_object(name, raw)
    if override is not None:
        override_name, override_raw = _read(override)
        user = _json_object(override_name, override_raw)
        user.setdefault("format", PRICES_FORMAT)
        if user["format"] != PRICES_FORMAT:
            raise ConfigurationError(f"{override_name}: format must be {PRICES_FORMAT!r}")
        merged = merge(table, user)
        shipped = f"{table['source']} ({table['as_of']})"
        if "source" in user:
            merged["source"] = f"{user['source']} ({user.get('as_of', 'undated')}), over: {shipped}"
        else:
            merged["source"] = f"{override_name} over: {shipped}"
        merged["as_of"] = user.get("as_of", table["as_of"])
        return price_sheet(merged, region, name=override_name)
    return price_sheet(table, region, name=name)


def load_measurement(path: Path | None = None) -> WritePathResult:
    """A write-path measurement: ``path`` (a ``make bench`` result file) or the one shipped with Sluice.

    Raises:
        ConfigurationError: the file cannot be read or is not a ``sluice-bench-write-path/1`` document.
    """
    name, raw = _shipped(_SHIPPED_MEASUREMENT) if path is None else _read(path)
    document = _json_object(name, raw)
    try:
        result = WritePathResult.model_validate(document)
    except ValidationError as exc:
        raise _explain(name, exc) from exc
    result = result.model_copy(update={"origin": name})
    result.sluice_rows_per_s()  # refuse a file without the consumer's own figure now, not halfway through a plan
    return result
