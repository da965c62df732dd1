"""The benchmark's latency proxy (tools/latencyproxy.py), in its own process, in front of
a small threaded TCP server. Delays are checked as lower bounds only, never as speeds."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from latencyproxy import ProxyProcess

EARLY = 0.002  # seconds a delay may end early (asyncio's timer resolution)
DELAY_MS = 50.0
TOOL = Path(__file__).resolve().parents[2] / "tools" / "latencyproxy.py"


class _Echo(socketserver.BaseRequestHandler):
    """Send back every byte; a line "bye\\n" alone makes the server close first."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        while data := sock.recv(65536):
            if data == b"bye\n":
                break
            sock.sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    server = _Server(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream: int) -> Iterator[ProxyProcess]:
    with ProxyProcess(upstream, DELAY_MS) as p:
        yield p


def _connect(proxy: ProxyProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = sock.recv(min(1 << 20, n - len(got)))
        if not chunk:
            break
        got += chunk
    return bytes(got)


def _recv_all(sock: socket.socket) -> bytes:
    got = bytearray()
    while chunk := sock.recv(1 << 20):
        got += chunk
    return bytes(got)


def test_bytes_pass_unchanged_both_ways(proxy: ProxyProcess) -> None:
    data = os.urandom(8 << 20)
    with _connect(proxy) as sock:
        sender = threading.Thread(target=sock.sendall, args=(data,))
        sender.start()
        echoed = _recv_exactly(sock, len(data))
        sender.join()
    assert echoed == data
    stats = proxy.stats()
    assert stats["up_bytes"] == stats["down_bytes"] == len(data)


def test_order_is_kept_for_many_small_writes(proxy: ProxyProcess) -> None:
    pieces = [f"{i:06d};".encode() for i in range(3000)]
    with _connect(proxy) as sock:
        for piece in pieces:
            sock.sendall(piece)
        echoed = _recv_exactly(sock, sum(map(len, pieces)))
    assert echoed == b"".join(pieces)


def test_a_round_trip_costs_two_delays_and_a_new_connection_one_more(
    proxy: ProxyProcess,
) -> None:
    with _connect(proxy) as sock:
        start = time.perf_counter()
        sock.sendall(b"ping")
        assert _recv_exactly(sock, 4) == b"ping"
        first = time.perf_counter() - start
        start = time.perf_counter()
        sock.sendall(b"pong")
        assert _recv_exactly(sock, 4) == b"pong"
        second = time.perf_counter() - start
    # asyncio runs a timer up to its clock's resolution early: 2 ms of slack in 200 ms
    assert first >= 4 * DELAY_MS / 1000 - EARLY  # the emulated handshake, then the round trip
    assert second >= 2 * DELAY_MS / 1000 - EARLY


def test_connections_close_cleanly_from_either_side(proxy: ProxyProcess) -> None:
    with _connect(proxy) as sock:  # the client half-closes: the rest still arrives
        sock.sendall(b"last words")
        sock.shutdown(socket.SHUT_WR)
        assert _recv_all(sock) == b"last words"
    with _connect(proxy) as sock:  # the server closes: the client reads EOF
        sock.sendall(b"bye\n")
        assert _recv_all(sock) == b""
    assert proxy.stats()["connections"] == 2


def test_requests_are_counted_by_their_request_line(proxy: ProxyProcess) -> None:
    request = b"GET /bucket?list-type=2 HTTP/1.1\r\nHost: x\r\n\r\n"
    with _connect(proxy) as sock:
        for _ in range(3):
            sock.sendall(request[:20])  # a request line split across two writes
            time.sleep(0.01)
            sock.sendall(request[20:])
            _recv_exactly(sock, len(request))
    stats = proxy.stats()
    assert stats["requests"] == 3
    assert stats["cpu_s"] > 0


def test_the_proxy_stops_by_itself_when_its_stdin_closes(upstream: int) -> None:
    p = ProxyProcess(upstream, DELAY_MS)
    assert p.process.stdin is not None
    p.process.stdin.close()
    assert p.process.wait(timeout=10) == 0


def test_the_proxy_stops_on_sigterm(upstream: int) -> None:
    p = ProxyProcess(upstream, DELAY_MS)
    p.process.send_signal(signal.SIGTERM)
    assert p.process.wait(timeout=10) == 0
    p.stop()


def test_an_unreachable_upstream_closes_the_client() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # bound, never listening: refused
        with ProxyProcess(dead_port, 1.0) as p, _connect(p) as sock:
            sock.sendall(b"anyone?")
            with contextlib.suppress(ConnectionResetError):  # a reset is as good as EOF
                assert sock.recv(10) == b""


@pytest.mark.parametrize("delay", [float("nan"), float("inf"), -1.0])
def test_a_delay_that_is_not_a_finite_non_negative_number_is_refused(
    upstream: int, delay: float
) -> None:
    """NaN made the proxy spin on a core and deliver nothing: a benchmark that hung."""
    with pytest.raises(ValueError, match="delay"):
        ProxyProcess(upstream, delay)
    done = subprocess.run(
        [sys.executable, str(TOOL), str(upstream), str(delay)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "delay" in done.stderr and "port" not in done.stdout
