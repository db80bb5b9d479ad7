"""Writing BENCHMARKS.md and the throughput-against-size plot from one run's results."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench.load import DURATION

ROOT = Path(__file__).resolve().parent.parent
PLOT = "docs/bench-throughput-vs-size.png"
NOTES = ROOT / "bench" / "NOTES.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pg = "psql not found"
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; {platform.platform()}; "
            f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; {pg}")


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def targets(r: dict) -> list[tuple[str, str, str, str]]:
    s, p = r["sqlite"], r["postgres"]
    rows = []
    ratio = s["check"] / s["healthz"]
    rows.append(("single check ≥ 75% of bare /healthz (SQLite)",
                 f"{s['check']:.0f} / {s['healthz']:.0f} req/s", f"{ratio:.0%}",
                 _verdict(ratio >= 0.75)))
    for name, e in (("SQLite", s), ("PostgreSQL", p)):
        ratio = e["check"] / e["raw_check"]
        rows.append((f"single check ≥ 90% of the raw-driver look-up ({name})",
                     f"{e['check']:.0f} / {e['raw_check']:.0f} req/s", f"{ratio:.0%}",
                     _verdict(ratio >= 0.9)))
    for name, e in (("SQLite", s), ("PostgreSQL", p)):
        ratio = e["bulk"] / e["raw_join"]
        rows.append((f"bulk check of 100,000 ≥ 50% of the raw SQL join ({name})",
                     f"{e['bulk']:.0f} / {e['raw_join']:.0f} addresses/s", f"{ratio:.0%}",
                     _verdict(ratio >= 0.5)))
    rows.append(("one-click unsubscribes ≥ 1,000/s, durable (SQLite)", f"{s['one_click']:.0f}/s",
                 f"{s['one_click'] / 1000:.0%} of target", _verdict(s["one_click"] >= 1000)))
    best_links = max(s["links_known"], p["links_known"])
    rows.append(("signed links ≥ 40,000/s in a batch (known contacts)",
                 f"SQLite {s['links_known']:.0f}/s, PostgreSQL {p['links_known']:.0f}/s",
                 f"{best_links / 40000:.0%} of target", _verdict(best_links >= 40000)))
    scale = p["scale"]
    best = max(scale, key=scale.get)
    rows.append(("PostgreSQL check throughput rises with workers and instances",
                 f"{best.replace('x', ' × ')}: {scale[best]:.0f} / 1 × 1: {scale['1x1']:.0f}"
                 " req/s", f"{scale[best] / scale['1x1']:.2f}×",
                 _verdict(scale[best] > 1.1 * scale["1x1"])))
    for name, key in (("SQLite", "sqlite"), ("PostgreSQL", "postgres")):
        sizes = r["sizes"][key]
        small, big = min(sizes), max(sizes)
        ratio = sizes[big] / sizes[small]
        rows.append((f"check throughput at {big:,} within 20% of {small:,} ({name})",
                     f"{sizes[big]:.0f} / {sizes[small]:.0f} req/s", f"{ratio:.0%}",
                     _verdict(ratio >= 0.8)))
    return rows


def plot(r: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        sizes = r["sizes"][key]
        xs = sorted(sizes)
        ax.plot(xs, [sizes[x] for x in xs], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("suppressions in the table")
    ax.set_ylabel("single checks per second (1 worker)")
    ax.set_title("Check throughput against data size")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    (ROOT / PLOT).parent.mkdir(exist_ok=True)
    fig.savefig(ROOT / PLOT, dpi=100)
    plt.close(fig)


def write_report(r: dict) -> None:
    plot(r)
    s, p = r["sqlite"], r["postgres"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        f"{' (BENCH_QUICK smoke run: small data)' if r['quick'] else ''};"
        f" the run took {r['elapsed_s'] / 60:.1f} minutes"
        f" ({r['prepared_s'] / 60:.1f} of them generating the missing datasets).",
        "",
        f"Machine: {machine()}.",
        "",
        "The service runs as in production (`python -m service serve`, uvicorn, one worker unless"
        " said otherwise, logging at WARNING to a file); PostgreSQL is the suite's own server"
        " (`bench/pg.py`: shared_buffers 4 GB, sized to hold the indexes as DEPLOY.md advises;"
        " fsync on); load comes from `wrk` in a separate process on loopback (1 thread,"
        f" 32 connections, {DURATION} s per figure). Figures are ratios within this one run,"
        " because the machine is shared and noisy; the figures a target compares are taken in"
        " turns, twice, and the better of each kept. The bulk check and the raw join are each"
        " the better of two runs after a warm-up one; the raw join is the fastest of its plain"
        " SQL forms on the raw driver, keys computed and sorted beforehand"
        " (`bench/measure.py`).",
        "",
        "## Targets",
        "",
        "| target | measured | ratio | |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in targets(r)]
    lines += [
        "",
        "## All figures",
        "",
        "| figure | SQLite | PostgreSQL |",
        "| --- | --- | --- |",
        f"| bare `/healthz` req/s | {s['healthz']:.0f} | {p['healthz']:.0f} |",
        f"| raw-driver look-up route req/s | {s['raw_check']:.0f} | {p['raw_check']:.0f} |",
        f"| single check req/s (1 worker) | {s['check']:.0f} | {p['check']:.0f} |",
        f"| `/healthz` req/s, 2 / 4 workers | {s['healthz_2w']:.0f} / {s['healthz_4w']:.0f} |"
        f" {p['healthz_2w']:.0f} / {p['healthz_4w']:.0f} |",
        f"| single check latency under full load p50 / p99 ms | {s['check_p50']:.2f} /"
        f" {s['check_p99']:.2f} | {p['check_p50']:.2f} / {p['check_p99']:.2f} |",
        f"| single check latency at {s['latency_rate']} req/s p50 / p99 ms |"
        f" {s['latency_p50']:.2f} / {s['latency_p99']:.2f} |"
        f" {p['latency_p50']:.2f} / {p['latency_p99']:.2f} |",
        f"| bulk check, addresses/s (100,000 per request) | {s['bulk']:.0f} | {p['bulk']:.0f} |",
        f"| raw SQL join, addresses/s | {s['raw_join']:.0f} | {p['raw_join']:.0f} |",
        f"| peak service memory during the bulk check: resident (of it anonymous, i.e. not"
        f" the memory-mapped database file) | {s['bulk_peak_rss'] / 2**20:.0f}"
        f" ({s['bulk_peak_anon'] / 2**20:.0f}) MiB | {p['bulk_peak_rss'] / 2**20:.0f}"
        f" ({p['bulk_peak_anon'] / 2**20:.0f}) MiB |",
        f"| one-click unsubscribes/s (committed before the 200) | {s['one_click']:.0f} |"
        f" {p['one_click']:.0f} |",
        f"| links/s, batch of {s['one_click_tokens']:,}, creating the contacts |"
        f" {s['links_new']:.0f} | {p['links_new']:.0f} |",
        f"| links/s, same batch again (known contacts) | {s['links_known']:.0f} |"
        f" {p['links_known']:.0f} |",
        "",
        "## Scale-out: workers and instances",
        "",
        "Single checks per second, 64 connections in all; an instance is a separate"
        " `python -m service serve` process on the same database, loaded by its own wrk (as a"
        " load balancer would spread the traffic). The load generator and, for PostgreSQL, the"
        " database server share the machine's cores with the service.",
        "",
        "| instances × workers | SQLite checks/s | vs 1 × 1 | PostgreSQL checks/s | vs 1 × 1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for config in dict.fromkeys([*s["scale"], *p["scale"]]):
        cells = []
        for e in (s, p):
            rate = e["scale"].get(config)
            cells += (["—", "—"] if rate is None
                      else [f"{rate:.0f}", f"{rate / e['scale']['1x1']:.2f}×"])
        lines.append(f"| {config.replace('x', ' × ')} | {' | '.join(cells)} |")
    lines += [
        "",
        "## Throughput against data size",
        "",
        "| suppressions | SQLite checks/s | PostgreSQL checks/s |",
        "| --- | --- | --- |",
    ]
    for n in sorted(r["sizes"]["sqlite"]):
        lines.append(f"| {n:,} | {r['sizes']['sqlite'][n]:.0f} |"
                     f" {r['sizes']['postgres'].get(n, float('nan')):.0f} |")
    lines += ["", f"![throughput against data size]({PLOT})", ""]
    if NOTES.exists():
        lines += [NOTES.read_text().strip(), ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines))
