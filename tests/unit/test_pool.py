"""The listing's kept-alive connections, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from bucketsync.stores.pool import Pool, Unanswered


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    ports: ClassVar[list[int]] = []  # the client port of each request: one per connection

    def do_GET(self) -> None:
        Handler.ports.append(self.client_address[1])
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    Handler.ports = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_a_connection_is_reused(server: ThreadingHTTPServer) -> None:
    pool = Pool(5, 5, keep=2)
    answers = [pool.get(url(server, f"/b?list-type=2&n={n}")) for n in range(3)]
    assert [(a.status, a.data) for a in answers] == [
        (200, f"/b?list-type=2&n={n}".encode()) for n in range(3)
    ]
    assert len(set(Handler.ports)) == 1  # one connection, three requests
    pool.close()


def test_a_connection_the_server_closed_while_idle_is_not_used(
    server: ThreadingHTTPServer,
) -> None:
    pool = Pool(5, 5, keep=2)
    assert pool.get(url(server, "/one")).data == b"/one"
    for conn in pool._idle[("http", f"127.0.0.1:{server.server_address[1]}")]:
        assert conn.sock is not None
        conn.sock.shutdown(socket.SHUT_RD)  # reads as closed by the server: EOF
    assert pool.get(url(server, "/two")).data == b"/two"
    assert len(set(Handler.ports)) == 2  # a new connection, no failed request


def test_a_refused_connection_says_so() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(Unanswered) as caught:
        Pool(5, 5, keep=2).get(f"http://127.0.0.1:{port}/b")
    assert caught.value.failure == "refused"
