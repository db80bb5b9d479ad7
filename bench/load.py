"""Load from a separate process on loopback: wrk for throughput, an open-loop client for latency."""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
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


async def _exchange(conn: tuple, request: bytes) -> tuple[int, bool]:
    """One HTTP/1.1 request on a kept-alive connection: (status, whether the connection may be
    reused); the body is read off."""
    reader, writer = conn
    writer.write(request)
    line = await reader.readline()
    if not line:
        raise ConnectionResetError("connection closed before an answer")
    status = int(line.split(b" ", 2)[1])
    length, chunked, keep = 0, False, True
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value == b"chunked"
        elif name == b"connection":
            keep = value != b"close"
    if not chunked:
        await reader.readexactly(length)
        return status, keep
    while size := int((await reader.readline()).split(b";")[0], 16):
        await reader.readexactly(size + 2)  # the chunk and its CRLF
    while (await reader.readline()) not in (b"\r\n", b""):  # trailers
        pass
    return status, keep


@dataclass
class OpenLoopResult:
    latencies: list[float]  # ms from the scheduled start, of the requests answered 2xx, sorted
    errors: dict[str, int]  # what went wrong ("500", "timeout", ...) -> how many
    sent: int

    def percentile(self, share: float) -> float | None:
        if not self.latencies:
            return None
        return self.latencies[min(len(self.latencies) - 1, int(len(self.latencies) * share))]


async def _open_loop(base: str, paths: list[str], rate: float, seconds: float,
                     headers: dict[str, str], method: str, body: bytes,
                     until: Callable[[], bool] | None, answer_within: float) -> OpenLoopResult:
    """Requests start on schedule whatever the answers do; a latency runs from the scheduled
    start (so queueing counts). Plain asyncio streams on kept-alive connections: an httpx
    client's own pool, not the service, became the bottleneck here. Scheduling stops after
    `seconds`, or once until() is true; a request not answered within `answer_within` counts as an
    error, so a stalled service cannot hold the run."""
    host, port = base.removeprefix("http://").split(":")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if body:
        extra += f"Content-Length: {len(body)}\r\n"
    idle: list[tuple] = []
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def exchange(path: str) -> tuple[tuple, int, bool]:
        """(connection, status, keep-alive). A kept-alive connection the server has closed
        meanwhile (uvicorn drops idle ones after 5 s) fails at once: the request goes again on
        a new connection, as any HTTP client does (seen as one ConnectionResetError a run)."""
        request = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
        if idle:
            conn = idle.pop()
            try:
                return (conn, *await _exchange(conn, request + body))
            except (ConnectionError, asyncio.IncompleteReadError):
                conn[1].close()
        conn = await asyncio.open_connection(host, int(port))
        try:
            return (conn, *await _exchange(conn, request + body))
        except BaseException:
            conn[1].close()
            raise

    async def one(path: str, scheduled: float) -> None:
        conn = None
        try:
            conn, status, keep = await asyncio.wait_for(exchange(path), answer_within)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            what = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            errors[what] = errors.get(what, 0) + 1
            if conn is not None:
                conn[1].close()  # a half-read answer: the connection cannot be reused
            return
        if 200 <= status < 300:
            latencies.append((time.perf_counter() - scheduled) * 1000)
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1
        if keep:
            idle.append(conn)
        else:
            conn[1].close()

    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        if until is not None and until():
            break
        scheduled = start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(paths[n % len(paths)], scheduled)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return OpenLoopResult(sorted(latencies), errors, len(tasks))


def open_loop(base: str, paths: list[str], rate: float, seconds: float,
              headers: dict[str, str], method: str = "GET", body: bytes = b"",
              until: Callable[[], bool] | None = None, timeout: float = 10) -> OpenLoopResult:
    """Requests at a fixed rate (open loop: they start on schedule) for up to `seconds`."""
    return asyncio.run(_open_loop(base, paths, rate, seconds, headers, method, body, until,
                                  timeout))


def fixed_rate_latency(base: str, paths: list[str], rate: float, seconds: float,
                       headers: dict[str, str]) -> tuple[float, float]:
    """(p50, p99) in ms at a fixed request rate (open loop: requests start on schedule)."""
    result = open_loop(base, paths, rate, seconds, headers)
    if result.errors:
        raise RuntimeError(f"{paths[0]} and others answered {result.errors}")
    return statistics.median(result.latencies), result.percentile(0.99)
