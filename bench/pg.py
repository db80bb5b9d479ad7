"""The benchmark's own PostgreSQL server, configured the way DEPLOY.md says production should be.

The machine's shared server keeps PostgreSQL's defaults (128 MB of shared_buffers), which cannot
hold the indexes of 10 million suppressions; DEPLOY.md sizes shared_buffers to hold them. So the
suite runs a server of its own (initdb once, data kept under bench/results/pgdata with the
cached datasets, started on a free port for the run, stopped after it). fsync stays on: the
one-click figure is durable.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from bench.server import free_port
from tests.scaleout.cluster import _as_postgres, _bin

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "results" / "pgdata"
SETTINGS = {"shared_buffers": "4GB", "max_connections": "200", "listen_addresses": "127.0.0.1",
            "maintenance_work_mem": "512MB", "max_wal_size": "4GB"}


@contextmanager
def server():
    """Start the bench's PostgreSQL server; yields the URL of its `postgres` database."""
    DATA.parent.mkdir(parents=True, exist_ok=True)
    if not (DATA / "PG_VERSION").exists():
        shutil.rmtree(DATA, ignore_errors=True)
        DATA.mkdir()
        if os.geteuid() == 0:
            shutil.chown(DATA, "postgres", "postgres")
        _as_postgres(_bin("initdb"), "-D", str(DATA), "-A", "trust", "-U", "postgres",
                     "--no-sync")
    port = free_port()
    options = " ".join(f"-c {k}={v}" for k, v in {**SETTINGS, "port": port,
                                                  "unix_socket_directories": DATA}.items())
    _as_postgres(_bin("pg_ctl"), "-D", str(DATA), "-o", options, "-l", str(DATA / "server.log"),
                 "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres(_bin("pg_ctl"), "-D", str(DATA), "-m", "fast", "-w", "stop")
