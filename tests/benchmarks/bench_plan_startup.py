"""``sluice plan`` starts as fast as the other commands: wall time of fresh processes, against ``sluice --help``.

Run: ``make bench`` or ``.venv/bin/python tests/benchmarks/bench_plan_startup.py``. Alternates fresh
``sluice --help`` and ``sluice plan --rate 2000 --payload-bytes 1024`` processes (9 each, ``.pyc`` warm, output
discarded) so both share the machine's noise, and prints min/median/max wall times and the ratio of the medians.
Then it runs the plan once more in-process and says which AWS SDK modules it imported (none should be).
"""

from __future__ import annotations

import contextlib
import io
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.bench import machine_load

RUNS: Final = 9
SLUICE: Final = str(Path(sys.executable).with_name("sluice"))
COMMANDS: Final = {
    "sluice --help": [SLUICE, "--help"],
    "sluice plan --rate 2000 --payload-bytes 1024": [SLUICE, "plan", "--rate", "2000", "--payload-bytes", "1024"],
    "sluice plan ... --json": [SLUICE, "plan", "--rate", "2000", "--payload-bytes", "1024", "--json"],
}
SDK_MODULES: Final = ("boto3", "botocore", "aiobotocore")


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def sdk_modules_imported_by_plan() -> list[str]:
    """Run the plan command in a fresh interpreter and list the AWS SDK modules it imported."""
    probe = (
        "import contextlib, io, sys\n"
        "from sluice_cli.app import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['plan', '--rate', '2000', '--payload-bytes', '1024']) == 0\n"
        f"print(' '.join(name for name in {SDK_MODULES!r} if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return result.stdout.split()


def main() -> None:
    print(f"before: {machine_load()}")
    for command in COMMANDS.values():  # warm-up: .pyc files, page cache
        wall_time(command)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(RUNS):
        for name, command in COMMANDS.items():
            samples[name].append(wall_time(command))
    baseline = statistics.median(samples["sluice --help"])
    print(f"wall time of a fresh process, {RUNS} runs each, interleaved (ms):")
    print(f"{'command':<46} {'min':>6} {'median':>7} {'max':>6} {'x --help':>9}")
    for name, times in samples.items():
        median = statistics.median(times)
        print(
            f"{name:<46} {min(times) * 1000:>6.0f} {median * 1000:>7.0f} {max(times) * 1000:>6.0f} "
            f"{median / baseline:>9.2f}"
        )
    with contextlib.redirect_stderr(io.StringIO()):
        imported = sdk_modules_imported_by_plan()
    print(f"AWS SDK modules in the plan's process: {', '.join(imported) or 'none'}")
    if "boto3" in imported:
        print("boto3 was imported by `sluice plan`: it must not be (no AWS call is made)")
    print(f"after: {machine_load()}")


if __name__ == "__main__":
    main()
