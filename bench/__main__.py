"""`make bench`: measure the service against its targets, side by side, and write BENCHMARKS.md.

Everything is measured in one run on this machine and reported as ratios, because the machines
are shared and noisy. BENCH_QUICK=1 shrinks the data for a smoke run. BENCH_ONLY=writes (a
comma-separated list of SECTIONS) runs only those; such a partial run writes
bench/results/latest-<sections>.json and .md and leaves BENCHMARKS.md alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from bench import frequency, measure, pg, writes
from bench.data import dataset, prepare, reset_pg_writes, use_server, working_copy
from bench.load import fixed_rate_latency
from bench.report import write_partial, write_report
from bench.server import Server

QUICK = os.environ.get("BENCH_QUICK") == "1"
SMALL, MID, BIG = (1_000, 20_000, 100_000) if QUICK else (10_000, 1_000_000, 10_000_000)
LINKS = 2_000 if QUICK else 30_000
STARTED = time.monotonic()
SECTIONS = ("engines", "sizes", "writes")
ONLY = [name for name in os.environ.get("BENCH_ONLY", "").split(",") if name]
ENGINES = ("sqlite", "postgres")


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.0f}s] {message}", flush=True)


def best_in_turns(runs: dict, rounds: int) -> dict:
    """name -> the best of `rounds` results of runs[name](), the runs taken in turns: a burst
    of load from a neighbour then skews no single figure. A result is a rate, or a WrkResult
    (compared by its rate)."""
    best: dict = {}
    for _ in range(rounds):
        for name, run in runs.items():
            result = run()
            if name not in best or getattr(result, "rps", result) > getattr(
                    best[name], "rps", best[name]):
                best[name] = result
    return best


def engine_suite(engine: str) -> dict:
    r: dict = {}
    url = working_copy(engine, MID, log)
    log(f"{engine}: {MID:,} suppressions, 1 worker")
    with Server(url) as server:
        key = server.api_key()
        best = best_in_turns({"healthz": lambda: measure.healthz(server),
                              "raw_check": lambda: measure.raw_check(server, key, MID),
                              "check": lambda: measure.check(server, key, MID)}, rounds=2)
        single = best.pop("check")
        r.update(best, check=single.rps, check_p50=single.p50_ms, check_p99=single.p99_ms)
        log(f"  healthz {r['healthz']:.0f}/s  raw {r['raw_check']:.0f}/s  check {r['check']:.0f}/s")
        r["bulk"], (r["bulk_peak_rss"], r["bulk_peak_anon"]), r["bulk_summary"] = (
            measure.bulk_check(server, key, MID))
        r["raw_join"] = measure.raw_join(url, MID)
        log(f"  bulk {r['bulk']:.0f} addr/s  raw join {r['raw_join']:.0f} addr/s"
            f"  peak RSS {r['bulk_peak_rss'] / 2**20:.0f} MiB"
            f" ({r['bulk_peak_anon'] / 2**20:.0f} MiB anonymous)")
        r["links_new"], r["links_known"], tokens = measure.links(server, key, LINKS, "click")
        log(f"  links {r['links_new']:.0f}/s new contacts, {r['links_known']:.0f}/s known")
        r["one_click"] = measure.one_click(server, tokens)
        r["one_click_tokens"] = len(tokens)
        log(f"  one-click {r['one_click']:.0f}/s")
        paths = [f"/v1/suppressions/check?channel=email&address=user{i}%40example.com&topic=offers"
                 for i in range(0, 2 * MID, max(1, (2 * MID) // 5000))]
        r["latency_rate"] = 300
        r["latency_p50"], r["latency_p99"] = fixed_rate_latency(
            server.base, paths, r["latency_rate"], 4, measure.auth(key))
        log(f"  at {r['latency_rate']}/s: p50 {r['latency_p50']:.2f} ms"
            f" p99 {r['latency_p99']:.2f} ms")
    r["scale"], (r["healthz_2w"], r["healthz_4w"]) = scale_suite(url, engine)
    r.update(frequency_suite(url, engine))
    if engine == "postgres":
        asyncio.run(reset_pg_writes(url))
    return r


def frequency_suite(url: str, engine: str) -> dict:
    """Issue 17, last (it adds contacts and sends): send recording, then the plain check and
    the check with a tenth of the people paced, measured in turns on one server (before and
    after pacing), so both see the same machine; the bulk check likewise."""
    r: dict = {}
    with Server(url) as server:
        key = server.api_key()
        r["sends"] = frequency.record_sends(server, key, MID)
        log(f"{engine}: sends recorded {r['sends']:.0f} addresses/s")
        frequency.add_people(url, MID)  # the plain figures on the same people, not yet paced
        plain = best_in_turns({"check": lambda: measure.check(server, key, MID).rps},
                              rounds=2)["check"]
        bulk_plain = measure.bulk_check(server, key, MID)[0]
        r["paced_people"] = frequency.pace_people(url, MID)
        paced = best_in_turns({"check": lambda: measure.check(server, key, MID).rps},
                              rounds=2)["check"]
        bulk_paced, _, r["bulk_paced_summary"] = measure.bulk_check(server, key, MID)
    r.update(check_unpaced=plain, check_paced=paced, bulk_unpaced=bulk_plain,
             bulk_paced=bulk_paced)
    log(f"  with {r['paced_people']:,} paced people: check {plain:.0f} -> {paced:.0f}/s,"
        f" bulk {bulk_plain:.0f} -> {bulk_paced:.0f} addresses/s")
    return r


# (instances, uvicorn workers per instance); instances are separate `serve` processes on one
# database, each loaded by its own wrk, as a load balancer would spread the traffic
SCALE = {"sqlite": ((1, 1), (1, 2), (1, 4)),
         "postgres": ((1, 1), (1, 2), (1, 4), (2, 1), (2, 2))}


def scale_suite(url: str, engine: str) -> tuple[dict, tuple[float, float]]:
    """(checks/s by "instances x workers", /healthz req/s with 2 and 4 workers): check
    throughput with more workers and more instances, 64 connections in all. Every
    configuration is started first (an idle service costs nothing), then they are measured in
    turns, twice, the better of each kept."""
    configs: dict[str, list[Server]] = {}
    try:
        for instances, workers in SCALE[engine]:
            configs[f"{instances}x{workers}"] = [Server(url, workers=workers)
                                                 for _ in range(instances)]
        key = configs["1x1"][0].api_key()
        out = best_in_turns({name: lambda servers=servers: measure.check_instances(
            servers, key, MID) for name, servers in configs.items()}, rounds=2)
        healthz = (measure.healthz(configs["1x2"][0]), measure.healthz(configs["1x4"][0]))
    finally:
        for servers in configs.values():
            for server in servers:
                server.stop()
    for name in configs:
        instances, workers = name.split("x")
        log(f"  {instances} instance(s) x {workers} worker(s): check {out[name]:.0f}/s")
    return out, healthz


def size_suite(engine: str, mid_rate: float) -> dict[int, float]:
    """Check throughput against table size (the MID figure comes from the engine suite). The
    smallest and largest tables are served at once and measured in turns, three times, the
    better of each kept, so that both see the same machine."""
    urls = {n: dataset(engine, n, log) for n in (SMALL, BIG)}
    with Server(urls[SMALL]) as small, Server(urls[BIG]) as big:
        servers = {SMALL: (small, small.api_key()), BIG: (big, big.api_key())}
        out = best_in_turns({n: lambda n=n, server=server, key=key: measure.check(
            server, key, n).rps for n, (server, key) in servers.items()}, rounds=3)
    out[MID] = mid_rate
    if engine == "postgres":
        for url in urls.values():
            asyncio.run(reset_pg_writes(url))
    log(f"  {engine}: check {out[SMALL]:.0f}/s at {SMALL:,} suppressions,"
        f" {out[BIG]:.0f}/s at {BIG:,}")
    return out


def main() -> int:
    with pg.server() as url:
        use_server(url)
        return run()


def run() -> int:
    sections = ONLY or list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown or ("sizes" in sections and "engines" not in sections):
        print(f"BENCH_ONLY: a comma-separated list of {', '.join(SECTIONS)}"
              " (sizes needs engines, whose check figure it uses)", file=sys.stderr)
        return 2
    results: dict = {"quick": QUICK, "sizes": {}, "sections": sections}
    needed = {"engines": [MID], "sizes": [SMALL, BIG], "writes": [0, MID]}
    prepare(sorted({n for name in sections for n in needed[name]}), log)
    results["prepared_s"] = time.monotonic() - STARTED
    if "engines" in sections:
        for engine in ENGINES:
            results[engine] = engine_suite(engine)
    if "sizes" in sections:
        for engine in ENGINES:
            sizes = size_suite(engine, results[engine]["check"])
            results["sizes"][engine] = dict(sorted(sizes.items()))
    if "writes" in sections:
        started = time.monotonic()
        # After the read figures: its imports leave the machine busy (checkpoints, autovacuum).
        results["writes"] = {engine: writes.suite(engine, MID, log) for engine in ENGINES}
        results["writes"]["elapsed_s"] = time.monotonic() - started
        log(f"write path took {results['writes']['elapsed_s'] / 60:.1f} minutes")
    results["elapsed_s"] = time.monotonic() - STARTED
    os.makedirs("bench/results", exist_ok=True)
    name = "latest" if not ONLY else "latest-" + "-".join(sections)
    with open(f"bench/results/{name}.json", "w") as fh:
        json.dump(results, fh, indent=2, default=str)
    if ONLY:
        write_partial(results, f"bench/results/{name}.md")
        log(f"wrote bench/results/{name}.json and .md (BENCHMARKS.md is left to a full run)")
    else:
        write_report(results)
        log("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
