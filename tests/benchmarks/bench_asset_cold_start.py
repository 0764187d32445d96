"""Asset cold-start benchmark: the handlers' imports from the pruned asset vs the same asset built unpruned.

Run: ``make bench`` or ``.venv/bin/python tests/benchmarks/bench_asset_cold_start.py [--repetitions N]``.

Builds the x86_64 assets twice into ``build/bench-assets/`` (``ensure_built`` with and without pruning; reused
while unchanged) and installs the SDK Lambda's runtime provides next to them. Each sample is a fresh Python 3.13
interpreter run as Lambda's runtime runs one (``-I -S -B``, the asset then the SDK on the path,
``LAMBDA_TASK_ROOT`` set so Powertools' Tracer patches as it does on Lambda) that times, from its first line:

- consumer: ``import sluice_consumer.handler`` (Lambda's init phase);
- consumer+tracer: the same, then the Tracer that ``SLUICE_TRACING`` creates on first use (imports X-Ray);
- ingest: ``import sluice_ingest.handler``.

Pruned and unpruned samples alternate, so they share the machine's noise. Printed per variant, for the wall time
and for the child's CPU time (less sensitive to other load on a shared machine): min/median/max milliseconds of
each asset and the per-repetition ratio pruned / unpruned; and the load average at start and end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

from sluice_cdk.build import BuildResult, Toolchain, ensure_built, find_workspace_root, install_runtime_sdk
from sluice_cdk.config import Architecture

REPETITIONS: Final = 21
VARIANTS: Final = {
    "consumer": ("consumer", "import sluice_consumer.handler"),
    "consumer+tracer": (
        "consumer",
        "import sluice_consumer.handler\nfrom sluice_shared.observability import get_tracer\nget_tracer('consumer')",
    ),
    "ingest": ("ingest", "import sluice_ingest.handler"),
}
# The child puts the asset and the SDK first on its path and times the variant's code from its first line.
CHILD: Final = """
import time
_started, _cpu = time.perf_counter(), time.process_time()
import sys
sys.path[:0] = sys.argv[1:3]
{code}
print(time.perf_counter() - _started, time.process_time() - _cpu)
"""


def run_child(toolchain: Toolchain, asset: Path, sdk: Path, code: str) -> tuple[float, float]:
    """Wall and CPU seconds the variant's code took in a fresh Lambda-like interpreter."""
    environment = {
        "PATH": os.environ["PATH"],
        "LAMBDA_TASK_ROOT": str(asset),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    args = [toolchain.python, "-I", "-S", "-B", "-c", CHILD.format(code=code), str(asset), str(sdk)]
    result = subprocess.run(args, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"child failed ({result.returncode}):\n{result.stderr[-2000:]}")
    wall, cpu = result.stdout.split()[-2:]
    return float(wall), float(cpu)


def _spread(values: list[float], unit: float = 1000.0, digits: int = 0) -> str:
    low, middle, high = min(values) * unit, statistics.median(values) * unit, max(values) * unit
    return f"{low:.{digits}f} / {middle:.{digits}f} / {high:.{digits}f}"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    """Build (or reuse) both asset sets, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    options = parser.parse_args(argv)
    print(f"load average at start: {_load()}")
    root = find_workspace_root(Path(__file__).parent)
    out = root / "build" / "bench-assets"
    toolchain = Toolchain.discover()
    assets: dict[str, dict[str, BuildResult]] = {
        "pruned": ensure_built(Architecture.X86_64, root=root, out_dir=out / "pruned", toolchain=toolchain),
        "unpruned": ensure_built(
            Architecture.X86_64, root=root, out_dir=out / "unpruned", toolchain=toolchain, prune=False
        ),
    }
    sdk = out / "runtime-sdk"
    if not sdk.is_dir():
        install_runtime_sdk(sdk, arch=Architecture.X86_64, root=root, toolchain=toolchain)
    for kind, results in assets.items():
        sizes = ", ".join(f"{name} {result.size_bytes / 2**20:.1f} MiB" for name, result in results.items())
        print(f"{kind:<9} x86_64 assets: {sizes}")

    samples: dict[str, dict[str, list[tuple[float, float]]]] = {
        variant: {"pruned": [], "unpruned": []} for variant in VARIANTS
    }
    for repetition in range(options.repetitions + 1):  # the first round warms the page cache and is dropped
        for variant, (function, code) in VARIANTS.items():
            for kind in ("pruned", "unpruned") if repetition % 2 else ("unpruned", "pruned"):
                elapsed = run_child(toolchain, assets[kind][function].path, sdk, code)
                if repetition:
                    samples[variant][kind].append(elapsed)
    for clock, index in (("wall", 0), ("CPU", 1)):
        print(f"\ncold import, {clock} time, {options.repetitions} fresh interpreters each (ms)")
        print(f"{'variant':<16} {'pruned min/med/max':>20} {'unpruned min/med/max':>20}   pruned/unpruned min/med/max")
        for variant, by_kind in samples.items():
            pruned = [sample[index] for sample in by_kind["pruned"]]
            unpruned = [sample[index] for sample in by_kind["unpruned"]]
            ratios = [mine / theirs for mine, theirs in zip(pruned, unpruned, strict=True)]
            print(
                f"{variant:<16} {_spread(pruned):>20} {_spread(unpruned):>20}   {_spread(ratios, unit=1.0, digits=2)}"
            )
    print(f"\nload average at end: {_load()}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"bench_asset_cold_start took {time.perf_counter() - started:.0f} s")
