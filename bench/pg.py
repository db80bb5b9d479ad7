"""The benchmark's own PostgreSQL server, configured the way DEPLOY.md says production should be.

The machine's shared server keeps PostgreSQL's defaults (128 MB of shared_buffers), which cannot
hold the indexes of 10 million suppressions; DEPLOY.md sizes shared_buffers to hold them. So the
suite runs a server of its own (initdb once, data kept under bench/results/pgdata with the
cached datasets, started on a free port for the run, stopped after it). fsync stays on: the
one-click figure is durable.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "results" / "pgdata"
SETTINGS = {"shared_buffers": "4GB", "max_connections": "200", "listen_addresses": "127.0.0.1",
            "maintenance_work_mem": "512MB", "max_wal_size": "4GB"}


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL server binaries not found ({name}); "
                           "apt-get install postgresql")
    return found[-1]


def _as_postgres(*args: str) -> None:
    command = list(args)
    if os.geteuid() == 0:  # the server refuses to run as root
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
    options = " ".join(f"-c {k}={v}" for k, v in {**SETTINGS, "port": port,
                                                  "unix_socket_directories": DATA}.items())
    _as_postgres(_bin("pg_ctl"), "-D", str(DATA), "-o", options, "-l", str(DATA / "server.log"),
                 "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres(_bin("pg_ctl"), "-D", str(DATA), "-m", "fast", "-w", "stop")
