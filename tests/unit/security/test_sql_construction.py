"""SQL only through parameters and ``psycopg.sql``: the product source never builds a statement from strings.

An AST scan of every product module (``shared/src``, ``services/*/src``, ``cdk/src``) checks two rules:

1. no f-string, ``%`` formatting, ``+`` concatenation or ``str.format`` produces text shaped like SQL;
2. every ``execute``/``executemany``/``copy`` on a connection or cursor gets a string literal, a module constant
   (``UPPER_CASE``, itself a literal by rule 1) or a ``psycopg.sql`` composition; values travel as parameters.

Exceptions are listed with their reason. ruff's S608 (``make lint``) checks rule 1 too, more loosely; the scanner
is tested on code that breaks each rule, so a pass means something.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).parents[3]
PRODUCT_SOURCES: Final = (ROOT / "shared" / "src", *sorted((ROOT / "services").glob("*/src")), ROOT / "cdk" / "src")
# Shapes of SQL: keyword pairs in any case, and upper-case clauses (prose such as "select a queue from" is not SQL).
_SQL_PAIRS: Final = re.compile(
    r"\b(INSERT\s+INTO|DELETE\s+FROM|(CREATE|ALTER|DROP)\s+(TABLE|INDEX|TYPE|SCHEMA|DATABASE|ROLE|EXTENSION))\b",
    re.IGNORECASE,
)
_SQL_CLAUSES: Final = re.compile(
    r"\b(SELECT\b[\s\S]*\bFROM|UPDATE\s+\S+\s+SET|COPY\s+\S+[\s\S]*\b(FROM|TO)|LOCK\s+TABLE|TRUNCATE|GRANT)\b"
)
EXECUTING: Final = frozenset({"execute", "executemany", "copy"})
# A receiver that is a connection or a cursor, by the names this code base gives them.
DATABASE_RECEIVER: Final = re.compile(r"^(conn|connection|cursor|cur|db)$")
CONSTANT: Final = re.compile(r"^_?[A-Z][A-Z0-9_]*$")
ACKNOWLEDGED: Final = {
    ("sluice_consumer/migrations.py", "migration.sql"): (
        "the text of a numbered migration file shipped inside the package (never input); DDL takes no parameters"
    ),
    ("sluice_consumer/sink_writer.py", "statement"): (
        "a psycopg.sql composition made once per sink by sink_sql.sink_statement (sql.SQL, sql.Identifier, "
        "sql.Placeholder; types from the catalog); every value travels as a named parameter"
    ),
}


@dataclass(frozen=True)
class Finding:
    """One place that breaks a rule."""

    path: str
    line: int
    rule: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.code}"


def looks_like_sql(text: str) -> bool:
    """True when ``text`` has the shape of a SQL statement."""
    return bool(_SQL_PAIRS.search(text) or _SQL_CLAUSES.search(text))


def _literal_text(node: ast.AST) -> str:
    """The text of a string expression, with ``{}`` where a value is interpolated or concatenated."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal_text(value) if isinstance(value, ast.Constant) else "{}" for value in node.values)
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) + "{}" + _literal_text(node.right)
    return ""


def _is_sql_composition(node: ast.AST) -> bool:
    """``sql.SQL(...)``, ``sql.Identifier(...)``, ``psycopg.sql.*(...)`` or ``<one of those>.format(...)``/``.join``."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    owner = node.func.value
    if isinstance(owner, ast.Name) and owner.id == "sql":
        return True
    if isinstance(owner, ast.Attribute) and owner.attr == "sql":
        return True
    return node.func.attr in {"format", "join"} and _is_sql_composition(owner)


def _receiver_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _string_built_sql(node: ast.expr) -> str | None:
    """Which rule-1 violation ``node`` is, if any: SQL-shaped text made by interpolation, + / %, or str.format."""
    if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod)):
        return "SQL built from strings" if looks_like_sql(_literal_text(node)) else None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and looks_like_sql(_literal_text(node.func.value))
    ):
        return "SQL built with str.format"
    return None


def _unsafe_statement(node: ast.expr, path: str) -> bool:
    """True when ``node`` executes, on a connection or cursor, something other than a literal, constant or sql.*."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in EXECUTING):
        return False
    receiver = _receiver_name(node.func.value)
    if receiver is None or not DATABASE_RECEIVER.match(receiver) or not node.args:
        return False
    statement = node.args[0]
    return not (
        (isinstance(statement, ast.Constant) and isinstance(statement.value, str))
        or (isinstance(statement, ast.Name) and CONSTANT.match(statement.id) is not None)
        or _is_sql_composition(statement)
        or (path, ast.unparse(statement)) in ACKNOWLEDGED
    )


def scan(source: str, path: str) -> list[Finding]:
    """Every place in ``source`` that breaks one of the two rules (see the module docstring)."""
    findings: list[Finding] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.expr):
            continue
        rule = _string_built_sql(node)
        if rule is not None:
            findings.append(Finding(path, node.lineno, rule, ast.unparse(node)))
        if _unsafe_statement(node, path):
            findings.append(Finding(path, node.lineno, "statement not a literal or sql.*", ast.unparse(node)))
    return findings


def product_modules() -> list[Path]:
    return sorted(path for source in PRODUCT_SOURCES for path in source.rglob("*.py"))


def _relative(path: Path) -> str:
    """``package/module.py`` below its ``src`` folder."""
    return path.relative_to(next(source for source in PRODUCT_SOURCES if path.is_relative_to(source))).as_posix()


def test_the_product_source_builds_no_sql_from_strings() -> None:
    modules = product_modules()
    findings = [finding for path in modules for finding in scan(path.read_text("utf-8"), _relative(path))]

    assert len(modules) > 50  # the scan really read the code base
    assert findings == [], "\n".join(map(str, findings))


def test_every_acknowledged_exception_still_exists() -> None:
    sources = {_relative(path): path.read_text("utf-8") for path in product_modules()}

    for (path, expression), reason in ACKNOWLEDGED.items():
        assert reason
        called = re.search(rf"execute\({re.escape(expression)}[,)]", sources[path])
        assert called, f"{path}: {expression} is gone; drop its exception"


def test_the_statements_the_consumer_executes_are_constants_with_placeholders() -> None:
    from sluice_consumer import repository  # noqa: PLC0415 - only this test needs the consumer

    statements = {
        name: value for name, value in vars(repository).items() if CONSTANT.match(name) and looks_like_sql(str(value))
    }

    assert {"INSERT_EVENTS", "COPY_EVENTS_BINARY", "COMPARE_STORED", "INSERT_MIGRATION"} <= set(statements)
    assert all(isinstance(value, str) for value in statements.values())
    assert "%s" in statements["INSERT_MIGRATION"]
    assert statements["INSERT_EVENTS"].count("%b") == len(repository.COLUMNS)
    assert statements["COMPARE_STORED"].count("%b") == 2 + len(repository.COMPARED_FIELDS)  # position, event_id


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("conn.execute(f\"SELECT * FROM events WHERE event_id = '{event_id}'\")", "SQL built from strings"),
        ("query = \"DELETE FROM events WHERE source = '%s'\" % source", "SQL built from strings"),
        ('query = "INSERT INTO events VALUES (" + values + ")"', "SQL built from strings"),
        ('query = "UPDATE {} SET payload = {}".format(table, value)', "SQL built with str.format"),
        ("cursor.execute(query, [1])", "statement not a literal or sql.*"),
        ("conn.execute(statements[name])", "statement not a literal or sql.*"),
    ],
)
def test_the_scanner_flags_each_kind_of_string_built_sql(code: str, rule: str) -> None:
    assert rule in {finding.rule for finding in scan(code, "example.py")}


@pytest.mark.parametrize(
    "code",
    [
        'conn.execute("SELECT 1 FROM events WHERE event_id = %s", [event_id])',
        "cursor.execute(INSERT_EVENTS, columns)",
        'conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))',
        'conn.execute(psycopg.sql.SQL("SELECT {} FROM t").format(sql.Identifier(column)))',
        "run.execute(scan)",
        'message = f"cannot select a queue from {region}"',
    ],
)
def test_the_scanner_accepts_parameters_constants_and_psycopg_sql(code: str) -> None:
    assert scan(code, "example.py") == []
