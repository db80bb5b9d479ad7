"""Starting the service the way production does (uvicorn via `python -m service serve`)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from bench.data import ROOT, base_env

LOGS = ROOT / "bench" / "results" / "logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, database_url: str, workers: int = 1, extra_env: dict | None = None,
                 root: Path = ROOT):
        """`root`: the source tree whose `service` is served (bench/compare.py serves an
        older checkout beside this one)."""
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = base_env(database_url)
        env.update({"BENCH_ROUTES": "true", "PUBLIC_BASE_URL": self.base,
                    "UNSUBSCRIBE_MAILTO": "unsubscribe@example.com"})
        env.update(extra_env or {})
        self.env = env
        # The log goes to a file: a pipe nobody reads fills up, and then the service's log
        # thread blocks and its queue grows for the rest of the run.
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"server-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--port", str(self.port),
                 "--workers", str(workers)],
                cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log,
            )
        try:
            self._wait_ready()
        except BaseException:  # not left running behind a failed start
            self.stop()
            raise
        self._peak = 0
        self._sampling = False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("service did not start: " + self.log_path.read_text())
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("service did not answer /healthz within 60s")

    def api_key(self) -> str:
        out = subprocess.run([sys.executable, "-m", "service", "api-key", "create", "--name",
                              "bench", "--scopes", "admin"], cwd=self.root, env=self.env,
                             check=True, capture_output=True, text=True)
        return out.stdout.strip().splitlines()[-1]

    def rss(self) -> tuple[int, int]:
        """(resident bytes, of which anonymous: heap and stacks, not the mapped database file)
        of the service's processes."""
        try:
            parent = psutil.Process(self.proc.pid)
            procs = [parent, *parent.children(recursive=True)]
            total = sum(p.memory_info().rss for p in procs)
        except psutil.NoSuchProcess:
            return 0, 0
        anon = 0
        for proc in procs:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("RssAnon:"):
                    anon += int(line.split()[1]) * 1024
        return total, anon

    @contextmanager
    def sample_memory(self):
        """Peak resident memory of the service's processes while the block runs."""
        self._peak, self._peak_anon = self.rss()
        self._sampling = True

        def sample():
            while self._sampling:
                total, anon = self.rss()
                self._peak, self._peak_anon = max(self._peak, total), max(self._peak_anon, anon)
                time.sleep(0.02)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._sampling = False
            thread.join()

    @property
    def peak_rss(self) -> int:
        return self._peak

    @property
    def peak_anon(self) -> int:
        return self._peak_anon

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
