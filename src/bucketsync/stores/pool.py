"""Kept-alive HTTP connections for the listing's GETs, on the standard library alone.

The listing sends presigned GETs and reads small XML answers; `http.client` does
that, and importing urllib3 for it was a noticeable part of a no-change sync's
start-up. Connections are kept per endpoint and reused (a new one costs a round
trip, two with TLS), one per thread in flight; one the server has closed while
idle is dropped before use. A failure is raised as `Unanswered`, which says
whether the connection could not be made or the answer stopped coming.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import failure_of
from .retry import Failure


@dataclass(frozen=True)
class Answer:
    """A response read whole."""

    status: int
    data: bytes


class Unanswered(Exception):
    """A request that got no answer; `failure` says how (as the retry policy names it)."""

    def __init__(self, failure: Failure, cause: BaseException) -> None:
        super().__init__(f"{failure}: {type(cause).__name__}: {cause}")
        self.failure = failure


class Pool:
    """Idle connections to any endpoint, reused by the next GET to the same one."""

    def __init__(self, connect_timeout: float, read_timeout: float, keep: int) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._keep = keep
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def get(self, url: str) -> Answer:
        """GET `url` and read the answer whole (any status)."""
        parts = urlsplit(url)
        where = (parts.scheme, parts.netloc)
        target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        conn = self._take(where)
        with _failing(conn, timeout="stalled"):
            conn.request("GET", target, headers={"Accept-Encoding": "identity"})
            response = conn.getresponse()
            answer = Answer(response.status, response.read())
        if response.will_close:
            conn.close()
        else:
            self._give_back(where, conn)
        return answer

    def _take(self, where: tuple[str, str]) -> http.client.HTTPConnection:
        with self._lock:
            idle = self._idle.get(where, [])
            while idle:
                conn = idle.pop()
                if not _dropped(conn):
                    return conn
                conn.close()
        return self._connect(*where)

    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            conn = http.client.HTTPSConnection(
                netloc, timeout=self._connect_timeout, context=self._tls
            )
        else:
            conn = http.client.HTTPConnection(netloc, timeout=self._connect_timeout)
        with _failing(conn, timeout="timeout"):
            conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(self._read_timeout)
        return conn

    def _give_back(self, where: tuple[str, str], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(where, [])
            if len(idle) < self._keep:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


@contextlib.contextmanager
def _failing(conn: http.client.HTTPConnection, timeout: Failure) -> Iterator[None]:
    """Close the connection on a failure and raise it as `Unanswered`; a timeout is
    `timeout` (connecting: "timeout"; waiting for the answer: "stalled")."""
    try:
        yield
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        raise Unanswered(timeout if isinstance(e, TimeoutError) else failure_of(e), e) from e


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server (it reads as ready: EOF)."""
    if conn.sock is None:
        return True
    try:
        ready, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)
