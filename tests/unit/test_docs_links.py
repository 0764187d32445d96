"""Every relative link in README.md and docs/*.md points to a file that exists, and to a heading that exists.

Anchors follow GitHub's rule for heading ids: lower-cased, punctuation other than ``-`` and ``_`` removed,
spaces turned into ``-``, and ``-1``, ``-2`` ... appended to repeated ids.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
README_MAX_LINES = 200

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _prose(text: str) -> str:
    """The text without fenced code blocks (links and headings inside them are not links and headings)."""
    return _FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (before de-duplication)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub generates for the headings of ``path``."""
    seen: Counter[str] = Counter()
    result: set[str] = set()
    for heading in _HEADING.findall(_prose(path.read_text(encoding="utf-8"))):
        base = slug(heading)
        result.add(f"{base}-{seen[base]}" if seen[base] else base)
        seen[base] += 1
    return result


def relative_links(path: Path) -> list[str]:
    """Targets of the markdown links in ``path`` that point into the repository (no scheme, no mail)."""
    prose = _INLINE_CODE.sub("", _prose(path.read_text(encoding="utf-8")))
    return [target for target in _LINK.findall(prose) if not _SCHEME.match(target)]


def broken_links(path: Path) -> list[str]:
    """The relative links of ``path`` whose file or heading does not exist, with the reason."""
    broken: list[str] = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no file {os.path.relpath(destination, ROOT)}")
        elif anchor and destination.suffix == ".md" and unquote(anchor) not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {os.path.relpath(destination, ROOT)}")
    return broken


def test_the_docs_index_and_every_page_exist() -> None:
    names = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert {"README.md", "architecture.md", "cli.md", "dlq.md", "deploy.md", "benchmarks.md", "reliability.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_every_docs_page_is_linked_from_the_index() -> None:
    linked = {target.partition("#")[0] for target in relative_links(ROOT / "docs" / "README.md")}
    pages = {path.name for path in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert pages <= linked


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Quick start", "quick-start"),
        ("`sluice push`", "sluice-push"),
        ("RDS Proxy safety, on the wire", "rds-proxy-safety-on-the-wire"),
        ("Reading without consuming (`stats`, `peek`)", "reading-without-consuming-stats-peek"),
        ("DLQ replay and the 100,000-event load run", "dlq-replay-and-the-100000-event-load-run"),
    ],
)
def test_headings_anchor_as_github_anchors_them(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_missing_file_and_a_missing_heading_are_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](other.md) [bad](#nowhere) [web](https://example.com)\n")
    assert [reason.split(":")[0] for reason in broken_links(page)] == ["other.md", "#nowhere"]
