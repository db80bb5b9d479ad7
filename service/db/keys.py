"""Joining a list of keys against a table, so that the table's index is used on both engines.

Every statement that looks up many keys at once builds its key relation here. SQLite gets the
keys as one JSON array through `json_each`, and the statement must write `CROSS JOIN` after it
(`probe(engine)`): that fixes the join order (SQLite never reorders a CROSS JOIN), so the table
is probed through its index once per key. A plain JOIN let the planner put the big table
outside and compare every key with every row of a channel (issue 13: a 100,000-row import ran
for over 15 minutes). PostgreSQL gets `unnest` of text arrays: a join rather than `= ANY($n)`,
which the planner may turn into a scan that searches the array for every row when statistics
are thin.

tests/db/test_query_plans.py runs `EXPLAIN` on every such statement, on both engines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence


def probe(engine: str) -> str:
    """The join that follows a key relation: SQLite's `CROSS JOIN` (a fixed order; SQLite
    allows `ON` with it), PostgreSQL's plain `JOIN` (it has no `CROSS JOIN … ON`)."""
    return "CROSS JOIN" if engine == "sqlite" else "JOIN"


def keys_from(engine: str, n: int, alias: str = "k") -> str:
    """A relation `alias(key)` of the text keys in parameter $n, for the FROM clause, before a
    `probe(engine)` join of the table looked up."""
    if engine == "postgres":
        return f"unnest(CAST(${n} AS text[])) AS {alias}(key)"
    return f"(SELECT value AS key FROM json_each(${n})) AS {alias}"


def keys_arg(engine: str, keys: Sequence[str]):
    """The parameter value for `keys_from`."""
    return list(keys) if engine == "postgres" else json.dumps(list(keys))


def rows_from(engine: str, n: int, columns: Sequence[str], alias: str = "k") -> str:
    """A relation `alias(columns...)` of text tuples, before a `probe(engine)` join. Its parameters
    (`rows_arg`) start at $n: one per column on PostgreSQL, one in all on SQLite, so they must
    be the statement's last parameters."""
    if engine == "postgres":
        arrays = ", ".join(f"CAST(${n + i} AS text[])" for i in range(len(columns)))
        return f"unnest({arrays}) AS {alias}({', '.join(columns)})"
    cells = ", ".join(f"json_extract(value, '$[{i}]') AS {c}" for i, c in enumerate(columns))
    return f"(SELECT {cells} FROM json_each(${n})) AS {alias}"


def rows_arg(engine: str, rows: Sequence[Sequence[str | None]], width: int) -> tuple:
    """The parameter values for `rows_from` (pass them as `*rows_arg(...)`)."""
    if engine == "postgres":
        return tuple([row[i] for row in rows] for i in range(width))
    return (json.dumps([list(row) for row in rows]),)


def placeholders(n: int, start: int = 1) -> str:
    """`$start, …, $(start+n-1)`: the parameters of an `IN (…)` list of n values (short lists
    only; a long one joins `keys_from` instead)."""
    return ", ".join(f"${i}" for i in range(start, start + n))
