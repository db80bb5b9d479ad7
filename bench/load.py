"""Load from a separate process on loopback: wrk for throughput, an open-loop client for latency."""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

DURATION = 3  # seconds per wrk figure: a fresh `make bench` must stay under 10 minutes
CONNECTIONS = 32


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _start_wrk(url: str, lua: str, duration: int, connections: int) -> subprocess.Popen:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
        script = fh.name
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script,
         url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _parse_wrk(out: str) -> WrkResult:
    if "Latency Distribution" not in out:
        raise RuntimeError("wrk output without latencies:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))
    errors = 0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if match:
        errors += int(match.group(1))
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if match:
        errors += sum(int(x) for x in match.groups())
    return WrkResult(rps, p50, p99, errors)


def wrk_many(targets: list[tuple[str, str]], duration: int = DURATION,
             connections: int = CONNECTIONS) -> list[WrkResult]:
    """One wrk per (url, lua) target, all at once (one per service instance); the
    connections are shared out between them."""
    each = max(1, connections // len(targets))
    procs = [_start_wrk(url, lua, duration, each) for url, lua in targets]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=duration + 30)
        if proc.returncode:
            raise RuntimeError(f"wrk failed: {err}")
        results.append(_parse_wrk(out))
    return results


def wrk(url: str, lua: str, duration: int = DURATION,
        connections: int = CONNECTIONS) -> WrkResult:
    return wrk_many([(url, lua)], duration, connections)[0]


def lua_get_random(path_template: str, n: int, headers: dict[str, str]) -> str:
    """GET path_template with {i} replaced by a random integer in [0, n)."""
    head, _, tail = path_template.partition("{i}")
    hdrs = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
    return f"""
math.randomseed(os.time())
local headers = {{ {hdrs} }}
request = function()
  local i = math.random(0, {n - 1})
  return wrk.format("GET", "{head}" .. i .. "{tail}", headers)
end
"""


def lua_post_tokens(token_file: str) -> str:
    return f"""
local tokens = {{}}
for line in io.lines("{token_file}") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  local t = tokens[((i - 1) % #tokens) + 1]
  return wrk.format("POST", "/u/" .. t,
    {{ ["Content-Type"] = "application/x-www-form-urlencoded" }}, "List-Unsubscribe=One-Click")
end
"""


async def _get(conn: tuple, request: bytes) -> int:
    """One HTTP/1.1 request on a kept-alive connection; the status (the body is read off)."""
    reader, writer = conn
    writer.write(request)
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _open_loop(base: str, paths: list[str], rate: float, seconds: float,
                     headers: dict[str, str]) -> list[float]:
    """Requests start on schedule whatever the answers do; a latency runs from the scheduled
    start (so queueing counts). Plain asyncio streams on kept-alive connections: an httpx
    client's own pool, not the service, became the bottleneck here."""
    host, port = base.removeprefix("http://").split(":")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    idle: list[tuple] = []
    latencies: list[float] = []

    async def one(path: str, scheduled: float) -> None:
        conn = idle.pop() if idle else await asyncio.open_connection(host, int(port))
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
        status = await _get(conn, request)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
        latencies.append((time.perf_counter() - scheduled) * 1000)
        idle.append(conn)

    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        scheduled = start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(paths[n % len(paths)], scheduled)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return latencies


def fixed_rate_latency(base: str, paths: list[str], rate: float, seconds: float,
                       headers: dict[str, str]) -> tuple[float, float]:
    """(p50, p99) in ms at a fixed request rate (open loop: requests start on schedule)."""
    latencies = sorted(asyncio.run(_open_loop(base, paths, rate, seconds, headers)))
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return statistics.median(latencies), p99
