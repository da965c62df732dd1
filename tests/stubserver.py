"""A tiny HTTP server on 127.0.0.1 that answers every request with one S3 error.

It counts the requests it receives by method and by kind of S3 request, so tests can
measure how many requests one logical request costs (retries included).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_DOWN = (503, "SlowDown", "Please reduce your request rate.")


class Counts:
    """Requests received, by kind: list, head, get, put, other."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kinds: Counter[str] = Counter()

    def add(self, method: str, path: str) -> None:
        kind = "list" if "list-type=2" in path else method.lower()
        with self._lock:
            self.kinds[kind] += 1

    def clear(self) -> None:
        with self._lock:
            self.kinds.clear()


@contextmanager
def always_failing(answer: tuple[int, str, str] = SLOW_DOWN) -> Iterator[tuple[str, Counts]]:
    """An endpoint URL answering every request with `answer`, and its request counts."""
    counts = Counts()
    status, code, message = answer
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>{message}</Message></Error>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            counts.add(self.command, self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counts
    finally:
        server.shutdown()
        server.server_close()
