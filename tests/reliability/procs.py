"""Real processes for the reliability tests: the service (`python -m service serve`) that can be
SIGKILLed and restarted, a private PostgreSQL server that can be stopped and started, and a
database of our own on the shared PostgreSQL server.

Builds on tests/scaleout/cluster.py (free ports, the service environment, the CLI, initdb and
pg_ctl as the postgres user). Service output goes to a file, not a pipe: a service that logs
a lot during an outage must never block on a full pipe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import migrate, scratch_pg_database
from tests.scaleout.cluster import ROOT, PgCluster, _as_postgres, _bin, free_port, service_env

__all__ = ["ROOT", "PrivatePostgres", "Service", "admin_key", "own_pg_database", "prepare",
           "service_env"]


class Service:
    """One `python -m service serve` process on a fixed free port (kept across restarts).

    `root`: the tree it runs from (its cwd; another release's tree has itself on PYTHONPATH in
    `env`). `own_group`: the process leads a process group of its own, and stop and kill signal
    the whole group (children included)."""

    def __init__(self, env: dict[str, str], log_path: Path, root: Path = ROOT,
                 own_group: bool = False):
        self.env, self.log_path, self.root, self.own_group = env, log_path, root, own_group
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Service:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {self.starts} ===\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--port", str(self.port)],
                cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=self.own_group)
        deadline = time.monotonic() + 60  # a start-up bound, not a speed assertion
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"service did not start:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no cleanup, as in a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.own_group and self.proc is not None:
            self._signal(signal.SIGKILL)  # any child the server left behind in its group

    def _signal(self, number: int) -> None:
        if self.own_group:
            try:
                os.killpg(self.proc.pid, number)
            except ProcessLookupError:
                pass
        else:
            self.proc.send_signal(number)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class PrivatePostgres(PgCluster):
    """A PostgreSQL server of the test's own (initdb, free port), which it may stop and start
    without disturbing anyone else's tests. Only the primary of PgCluster; no replica."""

    def start(self) -> PrivatePostgres:
        _as_postgres(_bin("initdb"), "-D", str(self.primary), "-A", "trust", "-U", "postgres",
                     "--no-sync")
        self.start_server(self.primary, self.primary_port)
        _as_postgres(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.primary_port),
                     "-U", "postgres", "prefs")
        return self

    @property
    def database_url(self) -> str:
        return self.url(self.primary_port)

    def down(self, mode: str = "immediate") -> None:
        """Stop the server (`immediate`: like a crash of the database host's postgres)."""
        _as_postgres(_bin("pg_ctl"), "-D", str(self.primary), "-m", mode, "-w", "stop")

    def up(self) -> None:
        self.start_server(self.primary, self.primary_port)

    def close(self) -> None:
        try:
            self.stop_server(self.primary)
        except subprocess.CalledProcessError:
            pass  # already stopped
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def own_pg_database():
    """A database of our own on the shared PostgreSQL server (never stopped here)."""
    return scratch_pg_database("reliability")


def admin_key(env: dict[str, str]) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "service", "api-key", "create", "--name", "reliability",
         "--scopes", "admin"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {"Authorization": f"Bearer {result.stdout.strip().splitlines()[-1]}"}


def prepare(database_url: str, data_dir: Path, **extra: str) -> tuple[dict[str, str], dict]:
    """Migrate the database; (the service environment, admin API headers)."""
    migrate(database_url, data_dir)
    env = service_env(database_url, DATA_DIR=str(data_dir), RATE_LIMIT_PAGES_PER_MINUTE="0",
                      **extra)
    return env, admin_key(env)
