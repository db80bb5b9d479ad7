"""A real PostgreSQL primary and streaming replica on loopback ports, and service instances."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    subprocess.run(command, check=True, capture_output=True, timeout=120)


class PgCluster:
    """Primary + one streaming replica, each its own postgres server."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pgcluster-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.primary_port, self.replica_port = free_port(), free_port()
        self.primary, self.replica = self.dir / "primary", self.dir / "replica"

    def _conf(self, datadir: Path, port: int) -> str:
        return (f"-c port={port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={self.dir} -c fsync=off -c wal_level=replica "
                f"-c max_wal_senders=5 -c hot_standby=on -c wal_receiver_status_interval=1")

    def start(self) -> PgCluster:
        _as_postgres(_bin("initdb"), "-D", str(self.primary), "-A", "trust", "-U", "postgres",
                     "--no-sync")
        self.start_server(self.primary, self.primary_port)
        _as_postgres(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.primary_port),
                     "-U", "postgres", "prefs")
        _as_postgres("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port),
                     "-U", "postgres", "-D", str(self.replica), "-R", "-X", "stream")
        self.start_server(self.replica, self.replica_port)
        return self

    def start_server(self, datadir: Path, port: int) -> None:
        _as_postgres(_bin("pg_ctl"), "-D", str(datadir), "-o", self._conf(datadir, port),
                     "-l", str(self.dir / f"{datadir.name}.log"), "-w", "start")

    def stop_server(self, datadir: Path) -> None:
        _as_postgres(_bin("pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop")

    def url(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/prefs"

    def close(self) -> None:
        for datadir in (self.replica, self.primary):
            try:
                self.stop_server(datadir)
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Instance:
    """One service process (`python -m service serve`) on a free port."""

    def __init__(self, env: dict[str, str], workers: int = 1):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(self.port), "--workers",
             str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode())
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("instance did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PICCOLO_CONF"}
    env.update({"DATABASE_URL": database_url, "SECRET_KEYS": "scaleout-secret-key-0123456789",
                "HASH_KEY": "scaleout-hash-key-0123456789", "ENVIRONMENT": "test",
                "LOG_LEVEL": "WARNING", **extra})
    return env


def run_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout
