"""`python -m bench.compare REF`: the checks of this tree against those of git REF, paired.

An issue that touches the hot path is held to "within X% of the throughput before it". Two runs
of `make bench` minutes apart differ by more than that on these shared machines, so this serves
both versions at once and measures them in turns: the single check (wrk, best of ROUNDS) and the
bulk check (100,000 addresses, best of two after a warm-up), then the same again once a tenth of
the people checked chose a frequency and a weekly cap with recorded sends (bench/frequency.py),
which code before rule 7 ignores; `POST /v1/sends` of 100,000 addresses by each tree; and
`import contacts` into an empty database by each tree, in turns (the write path). It prints
new/old ratios and writes bench/results/compare-REF.json.

Each tree is served on a copy of its own dataset (bench/data.py): the same MID suppressions
(the same keys, times and topic), in a database made by that tree's own migrations, so each
code runs against the schema and indexes it was written for. Until issue 18 both served one
copy brought to this tree's migrations (the older code only read it); since tenants, this
tree's migrations drop indexes the older statements need (T2: `channel = $1 AND address_key =
$2` has no index without tenant_id in front), which would have timed the old code on a schema
it never ran on. Whatever is written later goes into both copies alike: the API keys, the
sends recorded by each tree's own `POST /v1/sends` (the old tree's as well, so its paced
people read as many sends), the paced people.

Everything the run makes is removed at the end, also when it fails: the copies (SQLite files,
PostgreSQL databases), the import databases, the servers, the old tree's worktree; the bench's
PostgreSQL server is stopped. The cached datasets stay (bench/results/data, and the server's
data folder), keyed by each tree's migrations, so a second run against the same REF generates
nothing.
BENCH_QUICK=1 for a smoke run; BENCH_ENGINES=sqlite to run one engine; BENCH_IMPORTS=0 to
leave out the imports (the checks alone take a third of the time).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench import data, frequency, measure, pg
from bench.__main__ import MID, QUICK, best_in_turns, log
from bench.data import CACHE, ROOT, base_env, prepare, scratch_copy, use_server
from bench.server import Server
from bench.writes import contacts_csv

ROUNDS = 3
IMPORT_ROWS = 20_000 if QUICK else 100_000  # contacts, each with its opt-in and ledger event
ENGINES = [e for e in os.environ.get("BENCH_ENGINES", "sqlite,postgres").split(",") if e]
IMPORTS = os.environ.get("BENCH_IMPORTS", "1") != "0"


def paired(servers: dict[str, tuple[Server, str]]) -> dict[str, float]:
    """name -> (single checks/s, bulk addresses/s) measured in turns."""
    single = best_in_turns({name: lambda s=s, k=k: measure.check(s, k, MID).rps
                            for name, (s, k) in servers.items()}, rounds=ROUNDS)
    bulk = best_in_turns({name: lambda s=s, k=k: measure.bulk_check(s, k, MID)[0]
                          for name, (s, k) in servers.items()}, rounds=2)
    return {f"{name}_{what}": figures[name] for name in servers
            for what, figures in (("check", single), ("bulk", bulk))}


def record_sends(servers: dict[str, tuple[Server, str]]) -> dict[str, float]:
    """name -> addresses/s of `POST /v1/sends`, each tree into its own copy (the same rows in
    both, so the paced checks read as many sends); 0 for a tree without the route (before
    issue 17, which also reads no sends)."""
    out = {}
    for name, (server, key) in servers.items():
        try:
            out[name] = frequency.record_sends(server, key, MID)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code not in (404, 405):
                raise
            out[name] = 0.0
    return out


def engine_pair(engine: str, old_root: Path) -> dict[str, float]:
    trees = {"old": old_root, "new": ROOT}
    with (scratch_copy(engine, MID, log, old_root, "cmp_old") as old_url,
          scratch_copy(engine, MID, log, ROOT, "cmp_new") as new_url,
          Server(old_url, root=old_root) as old, Server(new_url) as new):
        urls = {"old": old_url, "new": new_url}
        servers = {"old": (old, old.api_key()), "new": (new, new.api_key())}
        log(f"{engine}: old tree on {urls['old']}, new on {urls['new']} (schemas "
            + ", ".join(f"{name} {data.schema_tag(root)}" for name, root in trees.items()) + ")")
        plain = paired(servers)
        log(f"{engine} plain: {plain}")
        sends = record_sends(servers)
        log(f"{engine} sends recorded: new {sends['new']:.0f}, old {sends['old']:.0f}"
            " addresses/s")
        for url in urls.values():
            frequency.add_people(url, MID)
        paced_people = {name: frequency.pace_people(url, MID) for name, url in urls.items()}
        assert paced_people["old"] == paced_people["new"], paced_people
        paced = paired(servers)
        log(f"{engine} with {paced_people['new']:,} paced people: {paced}")
    out = {f"plain_{k}": v for k, v in plain.items()}
    out.update({f"paced_{k}": v for k, v in paced.items()}, paced_people=paced_people["new"],
               sends=sends["new"], sends_old=sends["old"])
    for phase in ("plain", "paced"):
        for what in ("check", "bulk"):
            out[f"{phase}_{what}_ratio"] = out[f"{phase}_new_{what}"] / out[f"{phase}_old_{what}"]
    return out


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(data.PG_BASE)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _empty_database(engine: str, name: str, root: Path) -> str:
    """A new database migrated by `root`'s own migrations (the older tree has fewer)."""
    if engine == "sqlite":
        url = f"sqlite:///{CACHE / name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{CACHE / name}.db{suffix}").unlink(missing_ok=True)
    else:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        url = data.pg_url(name)
    subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=root, env=base_env(url),
                   check=True, capture_output=True)
    return url


def import_pair(engine: str, old_root: Path) -> dict[str, float]:
    """Rows/s of `import contacts` (IMPORT_ROWS new contacts, each opted in: a preference, its
    ledger event and feed row) by each tree into an empty database, in turns, best of two:
    what sealing every event into its chain (issue 16) costs the write path."""
    path = contacts_csv(IMPORT_ROWS)
    best = {"old": 0.0, "new": 0.0}
    for turn in range(2):
        for name, root in (("old", old_root), ("new", ROOT)):
            db = f"bench_cmp_{name}_{turn}"
            url = f"sqlite:///{CACHE / db}.db" if engine == "sqlite" else data.pg_url(db)
            try:
                _empty_database(engine, db, root)
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "service", "import", "contacts",
                                str(path)], cwd=root, env=base_env(url), check=True,
                               capture_output=True, timeout=1800)
                best[name] = max(best[name], IMPORT_ROWS / (time.perf_counter() - started))
            finally:
                if engine == "sqlite":
                    Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
                else:
                    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    log(f"{engine} import contacts: old {best['old']:.0f} rows/s, new {best['new']:.0f} rows/s")
    return {"import_old": best["old"], "import_new": best["new"],
            "import_ratio": best["new"] / best["old"]}


def main(ref: str) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-old-") as folder:
        old_root = Path(folder) / "tree"
        try:
            subprocess.run(["git", "worktree", "add", "--detach", str(old_root), ref], cwd=ROOT,
                           check=True, capture_output=True)
            with pg.server() as url:
                use_server(url)
                prepare([MID], log, roots=(old_root, ROOT))
                results = {engine: {**engine_pair(engine, old_root),
                                    **(import_pair(engine, old_root) if IMPORTS else {})}
                           for engine in ENGINES}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_root)], cwd=ROOT,
                           check=False, capture_output=True)
    results["ref"] = ref
    results["elapsed_s"] = time.monotonic() - started
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    path = Path(f"bench/results/compare-{ref.replace('/', '_')}.json")
    path.write_text(json.dumps(results, indent=2))
    for engine in ENGINES:
        r = results[engine]
        print(f"{engine}: single check new/old {r['plain_check_ratio']:.0%} (plain),"
              f" {r['paced_check_ratio']:.0%} (a tenth paced); bulk new/old"
              f" {r['plain_bulk_ratio']:.0%} (plain), {r['paced_bulk_ratio']:.0%} (paced);"
              f" sends recorded {r['sends']:,.0f} addresses/s (old tree {r['sends_old']:,.0f})"
              + (f"; import contacts new/old {r['import_ratio']:.0%}" if IMPORTS else ""))
    print(f"took {results['elapsed_s'] / 60:.1f} minutes; wrote {path}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
