"""Real HTTP servers (uvicorn, each in a thread with its own event loop) for concurrency tests."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import uvicorn


@contextmanager
def serve(*apps):
    """Run each app on a free port; yields their base URLs."""
    servers, threads, urls = [], [], []
    for app in apps:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        # Keep-alive longer than any test's slowest answer: with uvicorn's 5 s default, a pooled
        # connection can be closed by the server just as the client reuses it (ReadError),
        # which says nothing about the service.
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                               timeout_keep_alive=300))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
        urls.append(f"http://127.0.0.1:{sock.getsockname()[1]}")
    try:
        for server, thread in zip(servers, threads, strict=True):
            while not server.started:  # waiting for start-up, not a timed assertion
                assert thread.is_alive(), "server failed to start"
                time.sleep(0.02)
        yield urls
    finally:
        for server in servers:
            server.should_exit = True
        for thread in threads:
            thread.join(30)
