"""A TCP proxy between the service and its PostgreSQL server, to make the database unreachable
in the ways a network does, which stopping the server cannot:

- `partition()`: open connections stay open but nothing passes either way, as when a link or a
  firewall drops packets; no FIN, no RST reaches the service.
- `heal()`: packets pass again. The server behind may have restarted meanwhile (the test
  restarts it), so each old connection is dead, as TCP would find out: one the service wrote to
  during the partition is reset at once (its retransmission reaches the new server), an idle one
  is reset when the service next writes to it. New connections go through.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading


class _Link:
    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client, self.upstream = client, upstream
        self.stalled = False
        self.wrote_while_stalled = False
        self.dead = False  # reset on the client's next write


class PartitionProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.links: list[_Link] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    # -- control --------------------------------------------------------------------------------
    def partition(self) -> None:
        with self.lock:
            for link in self.links:
                link.stalled = True

    def heal(self) -> None:
        with self.lock:
            for link in self.links:
                if link.stalled:
                    link.stalled, link.dead = False, True
                    if link.wrote_while_stalled:
                        _reset(link.client)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        with self.lock:
            for link in self.links:
                _close(link.client)
                _close(link.upstream)

    # -- plumbing -------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 5)
            except OSError:
                _reset(client)  # the server is down: refused, as it would be without us
                continue
            link = _Link(client, upstream)
            with self.lock:
                self.links.append(link)
            threading.Thread(target=self._pump, args=(link,), daemon=True).start()

    def _pump(self, link: _Link) -> None:
        sockets = [link.client, link.upstream]
        try:
            while not self.closed:
                readable, _, _ = select.select(sockets, [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    from_client = sock is link.client
                    if link.dead:
                        if from_client:  # the restarted server answers with RST
                            _reset(link.client)
                            return
                        if not data and link.upstream in sockets:
                            sockets.remove(link.upstream)
                        continue
                    if not data:
                        if from_client or not link.stalled:
                            return  # an orderly close, passed on below
                        sockets.remove(link.upstream)  # the server went: unseen while stalled
                        continue
                    if link.stalled:
                        link.wrote_while_stalled |= from_client
                        continue  # dropped on the floor
                    (link.upstream if from_client else link.client).sendall(data)
        except (OSError, ValueError):  # reset or closed under us
            pass
        finally:
            _close(link.client)
            _close(link.upstream)
            with self.lock, contextlib.suppress(ValueError):
                self.links.remove(link)


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a host that no longer knows the connection does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
