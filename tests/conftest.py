"""Suite-wide hooks: which tests share a pytest-xdist worker.

``make test`` runs the suite on several workers (``--dist loadgroup``). Tests are independent and spread one by
one, except those whose session or module fixtures are expensive to build twice: the CDK synthesis (a jsii
Node process and several seconds per app) and the Lambda asset builds each stay on one worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

TESTS: Final = Path(__file__).parent
# Directory (relative to tests/) -> the xdist group of every test under it.
GROUPS: Final = {
    Path("unit/cdk"): "cdk-synth",
    Path("unit/security"): "cdk-synth",
    Path("integration/cdk"): "lambda-assets",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        relative = item.path.relative_to(TESTS) if item.path.is_relative_to(TESTS) else None
        for directory, group in GROUPS.items():
            if relative is not None and relative.is_relative_to(directory):
                item.add_marker(pytest.mark.xdist_group(group))
