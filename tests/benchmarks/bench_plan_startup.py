"""``sluice plan`` starts as fast as the other commands: wall time of fresh processes, against ``sluice --help``.

Run: ``make bench`` or ``.venv/bin/python tests/benchmarks/bench_plan_startup.py``. Alternates fresh
``sluice --help`` and ``sluice plan --rate 2000 --payload-bytes 1024`` processes (9 each, ``.pyc`` warm, output
discarded) so both share the machine's noise, and prints min/median/max wall times and the ratio of the medians.
Then it times the plan command alone in fresh interpreters whose app is already imported (its modules, data files,
arithmetic and output), and says which AWS SDK modules the process imported (boto3 must not be among them).
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
from tests.support.bench import machine_load, spread

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


def plan_in_a_fresh_interpreter() -> tuple[float, list[str]]:
    """The plan command run in a fresh interpreter once the app is imported: its own seconds (its modules, the two
    data files, the arithmetic, the output), and the AWS SDK modules the process imported."""
    probe = (
        "import contextlib, io, sys, time\n"
        "from sluice_cli.app import main\n"
        "started = time.perf_counter()\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['plan', '--rate', '2000', '--payload-bytes', '1024']) == 0\n"
        "print(time.perf_counter() - started)\n"
        f"print(' '.join(name for name in {SDK_MODULES!r} if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    seconds, modules = [*result.stdout.split("\n", 1), ""][:2]
    return float(seconds), modules.split()


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
        runs = [plan_in_a_fresh_interpreter() for _ in range(RUNS)]
    own = [seconds * 1000 for seconds, _ in runs]
    print(f"the plan itself, once the app is imported (ms): {spread(own, digits=0)}")
    imported = runs[-1][1]
    print(f"AWS SDK modules in the plan's process: {', '.join(imported) or 'none'}")
    if "boto3" in imported:
        print("boto3 was imported by `sluice plan`: it must not be (no AWS call is made)")
    print(f"after: {machine_load()}")


if __name__ == "__main__":
    main()
