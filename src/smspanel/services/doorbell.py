"""Queued work wakes an idle dispatcher on this host at once, instead of at its next poll.

After a use case that queues recipients has committed, it rings: one datagram to each of a
few abstract Unix sockets named after the database, where this host's dispatchers listen
(the first few to start; any others, and dispatchers on other hosts, find the work at
their next poll, `SMS_POLL_INTERVAL`). Ringing never blocks and never fails a request: a
full or absent listener just means the work is found by polling.
"""

from __future__ import annotations

import contextlib
import hashlib
import select
import socket
import sys
import threading
from functools import cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from smspanel.services.transactions import after_commit

LISTENER_SLOTS = 4
_RING = b"!"


@cache
def doorbell_names(database_url: str) -> tuple[bytes, ...]:
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:24]
    return tuple(f"\0smspanel-{digest}-{slot}".encode() for slot in range(LISTENER_SLOTS))


def _database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


class Doorbell:
    """The ringing side, one per process and database."""

    def __init__(self, database_url: str) -> None:
        self.names = doorbell_names(database_url)
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def ring(self) -> None:
        if not sys.platform.startswith("linux"):
            return  # abstract socket names are Linux's; elsewhere dispatchers poll
        with self._lock:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            for name in self.names:
                with contextlib.suppress(OSError):  # nobody listening, or a backlog already
                    self._socket.sendto(_RING, name)


@cache
def doorbell_for(database_url: str) -> Doorbell:
    return Doorbell(database_url)


def ring_after_commit(session: Session) -> None:
    """Ring once the caller's transaction has committed (rows a dispatcher can now see)."""
    doorbell = doorbell_for(_database_url(session.get_bind()))  # type: ignore[arg-type]
    after_commit(session, doorbell.ring)


class DoorbellListener:
    """The dispatcher's side: wait for a ring, or until the poll interval is up."""

    def __init__(self, sock: socket.socket, name: bytes) -> None:
        self._socket = sock
        self._name = name

    @classmethod
    def bind(cls, engine: Engine) -> DoorbellListener | None:
        """Listen on the first free slot; None when all are taken (this dispatcher polls)."""
        if not sys.platform.startswith("linux"):
            return None
        for name in doorbell_names(_database_url(engine)):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(name)
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            return cls(sock, name)
        return None

    def wait(self, timeout: float) -> bool:
        """True if rung within `timeout` seconds; every ring waiting so far is consumed."""
        readable, _, _ = select.select([self._socket], [], [], timeout)
        if not readable:
            return False
        with contextlib.suppress(BlockingIOError):
            while self._socket.recv(64):
                pass
        return True

    def wake(self) -> None:
        """Ring this listener from within its own process (to stop a waiting dispatcher)."""
        with contextlib.suppress(OSError):
            self._socket.sendto(_RING, self._name)

    def close(self) -> None:
        self._socket.close()
