"""SQL you can find: every statement lives in its capability's `queries.py` (or in db/, the
connections and migrations), the way listmonk keeps every statement named in `queries.sql`.

The modules not moved yet are listed in NOT_YET_MOVED; moving one means taking it off the list
(the second test fails while a listed module no longer holds SQL, so the list only shrinks).
Found by reading each module's string literals, f-string parts included, docstrings excepted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[1] / "service"
# Statement shapes, upper case as the service writes SQL; a fragment with a `$n` parameter
# (`column = $3`, built up by a caller) counts too.
SQL = re.compile(
    r"\bSELECT\s+[\w'*(]|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+(TEMP\s+|UNIQUE\s+)?(TABLE|INDEX)\b|\bON\s+CONFLICT\b|\bPRAGMA\s+\w"
    r"|=\s*\$(\d|$)"
)
# Modules whose statements have not moved to a queries.py yet (phase 2 of issue 14), with the
# reason they wait; nothing new goes on this list.
NOT_YET_MOVED: dict[str, str] = {}


def is_home(name: str) -> bool:
    """A capability's `queries.py` (`outbox_queries.py` for the one-module outbox, and the
    check's `consent/state_queries.py`), or db/."""
    return name.startswith("db/") or name.rsplit("/", 1)[-1].endswith("queries.py")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def sql_lines(path: Path) -> list[int]:
    """The lines of the module's string literals that look like SQL."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skip and SQL.search(node.value)]


def modules_with_sql() -> dict[str, list[int]]:
    found = {}
    for path in sorted(SERVICE.rglob("*.py")):
        lines = sql_lines(path)
        if lines:
            found[path.relative_to(SERVICE).as_posix()] = lines
    return found


def test_sql_lives_in_queries_modules():
    strays = {name: sorted(lines) for name, lines in modules_with_sql().items()
              if not is_home(name) and name not in NOT_YET_MOVED}
    assert not strays, (
        "SQL outside a queries.py (module: lines); move it to the capability's queries.py: "
        f"{strays}")


def test_the_not_yet_moved_list_only_shrinks():
    holding = modules_with_sql()
    moved = sorted(name for name in NOT_YET_MOVED if name not in holding)
    assert not moved, f"these hold no SQL any more: take them off NOT_YET_MOVED: {moved}"


def transaction_lines(path: Path) -> list[int]:
    """The lines of the module that open a transaction (`….transaction()`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "transaction"]


def test_route_handlers_open_no_transaction():
    """A handler calls one plain function of its capability, which owns the transaction: the
    same write is then reachable from the CLI or a job without a request."""
    found = {path.relative_to(SERVICE).as_posix(): lines
             for path in sorted(SERVICE.rglob("*routes.py")) if (lines := transaction_lines(path))}
    assert not found, f"transactions in route modules (module: lines); move them to logic: {found}"


def test_the_checker_sees_sql_in_its_usual_shapes(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""SELECT x FROM a docstring is prose."""\n'
                    'A = "SELECT id FROM topic"\n'
                    'B = f" AND {column} = ${len(args)}"\n'
                    'C = "select the nicest one"\n'
                    'D = ("INSERT INTO outbox (kind)"\n      " VALUES ($1)")\n')
    assert sorted(sql_lines(path)) == [2, 3, 5]
    path.write_text("async def h(rt):\n    async with rt.db.transaction() as tx:\n"
                    "        await tx.execute(A)\n")
    assert transaction_lines(path) == [2]
