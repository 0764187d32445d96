"""The static import graph the asset builder's pruning proof reads, on small package trees written by the tests."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sluice_cdk.import_graph import PrunedImport, main, module_index, scan

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_index_names_sources_and_extensions_but_not_metadata_or_bytecode(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/mod.py": "",
            "pkg/_speed.cpython-313-x86_64-linux-gnu.so": "",
            "pkg/__pycache__/mod.cpython-313.pyc": "",
            "pkg-1.0.dist-info/METADATA": "",
            "pkg.libs/libz-1a2b.so.1": "",
            "top.py": "",
        },
    )

    assert sorted(module_index(tmp_path)) == ["pkg", "pkg._speed", "pkg.sub.mod", "top"]


def test_lazy_relative_and_from_imports_are_followed_type_checking_ones_are_not(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "app/__init__.py": "from .core import run\n",
            "app/core.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    import typed_only\nelse:\n    import runtime_only\n"
                "def run():\n    from lib import helpers\n    import json\n"
            ),
            "lib/__init__.py": "",
            "lib/helpers.py": "from . import deep\n",
            "lib/deep.py": "",
            "lib/unused.py": "",
            "typed_only.py": "",
            "runtime_only.py": "",
        },
    )

    graph = scan(tmp_path, ["app"])

    assert sorted(graph.reachable) == ["app", "app.core", "lib", "lib.deep", "lib.helpers", "runtime_only"]
    assert graph.reachable["lib.deep"] == "lib.helpers"
    assert graph.pruned_imports == []


def test_module_names_in_strings_count_as_imports(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "app.py": (
                "import importlib\n"
                "LAZY = 'lib.lazy'\n"
                "TOP = importlib.import_module('top')\n"
                "def patch(name):\n    return importlib.import_module('lib.ext.%s' % name)\n"
                "def plugin(name):\n    return importlib.import_module(f'plugins.{name}')\n"
            ),
            "lib/__init__.py": "",
            "lib/lazy.py": "",
            "lib/ext/__init__.py": "",
            "lib/ext/one.py": "",
            "plugins/__init__.py": "",
            "plugins/two.py": "",
            "top.py": "",
            "other.py": "",
        },
    )

    graph = scan(tmp_path, ["app"])

    assert sorted(graph.reachable) == [
        "app",
        "lib",
        "lib.ext",
        "lib.ext.one",
        "lib.lazy",
        "plugins",
        "plugins.two",
        "top",
    ]


def test_references_to_pruned_modules_are_reported_and_not_followed(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "app.py": "import lib.kept\n\ndef never():\n    from lib.gone import thing\n",
            "lib/__init__.py": "",
            "lib/kept.py": "NAME = 'lib.gone.sub'\nPATTERN = 'lib.%s'\n",
        },
    )

    graph = scan(tmp_path, ["app"], ["lib.gone"])

    assert sorted(graph.reachable) == ["app", "lib", "lib.kept"]
    assert graph.pruned_imports == [
        PrunedImport("app", "lib.gone", 4, "import"),
        PrunedImport("lib.kept", "lib.gone", 1, "name"),
        PrunedImport("lib.kept", "lib.gone", 2, "prefix"),
    ]


def test_command_line_prints_the_graph_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tree(tmp_path, {"app.py": "import lib\nimport gone\n", "lib.py": "", "gone.py": ""})

    assert main([str(tmp_path), "--package", "app", "--pruned", "gone"]) == 0

    assert json.loads(capsys.readouterr().out) == {
        "reachable": {"app": None, "lib": "app"},
        "pruned_imports": [{"importer": "app", "target": "gone", "line": 2, "kind": "import"}],
    }
