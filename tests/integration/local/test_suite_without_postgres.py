"""The integration suite on a machine without any PostgreSQL: it stops before the first test, with one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.postgres import NO_DATABASE_MESSAGE, TEST_DATABASE_URL

ROOT = Path(__file__).parents[3]
# Well under the unit tests' own duration: the check runs before collection finishes.
LIMIT_SECONDS = 30


def test_without_url_docker_or_binaries_the_run_stops_before_any_test_with_one_line():
    environment = {name: value for name, value in os.environ.items() if name != TEST_DATABASE_URL}

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.no_postgres", "-p", "no:cacheprovider", "-n", "0",
         "tests/integration/local/test_pipeline.py"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started

    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [f"ERROR: {NO_DATABASE_MESSAGE}"]
    assert "passed" not in result.stdout
    assert "failed" not in result.stdout
    assert elapsed < LIMIT_SECONDS
