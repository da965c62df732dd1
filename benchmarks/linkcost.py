"""The latency proxy's own CPU cost, measured apart from any tool.

``python -m benchmarks.linkcost`` (or ``calibrate()``, which S9 runs once per session)
puts the proxy at 0 ms in front of a small echo server in this process and reads the
proxy's CPU seconds (its own ``getrusage``) around three loads: a bulk stream (CPU per
GB through the proxy, both directions counted), small request/response exchanges on
kept-alive connections (per 1,000 requests) and new connections (per 1,000 connections).
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from latencyproxy import ProxyProcess

REQUEST = b"GET /bench/key HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
RESPONSE = 16 * 1024  # bytes answered per request (an S9 object)


class _Echo(socketserver.BaseRequestHandler):
    """Answer each request line with RESPONSE bytes; echo anything else (bulk)."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        answer = b"x" * RESPONSE
        while data := sock.recv(1 << 20):
            sock.sendall(answer if data == REQUEST else data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _recv(sock: socket.socket, n: int) -> None:
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError("proxy closed early")
        n -= len(chunk)


def _bulk(port: int, nbytes: int) -> None:
    block = os.urandom(1 << 20)

    def send() -> None:
        for _ in range(nbytes >> 20):
            sock.sendall(block)

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sender = threading.Thread(target=send)
        sender.start()
        _recv(sock, nbytes)
        sender.join()


def _requests(port: int, count: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(count):
            sock.sendall(REQUEST)
            _recv(sock, RESPONSE)


def _connections(port: int, count: int) -> None:
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(REQUEST)
            _recv(sock, RESPONSE)


def _cpu_of(proxy: ProxyProcess, load: Callable[[], object]) -> float:
    before = proxy.stats()["cpu_s"]
    load()
    return proxy.stats()["cpu_s"] - before


def _parallel(fn: Callable[[int, int], None], port: int, total: int, threads: int = 8) -> None:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fn, [port] * threads, [total // threads] * threads))


def calibrate(gib: int = 1, requests: int = 8_000, connections: int = 1_000) -> dict[str, float]:
    """CPU seconds of the proxy per GB, per 1,000 requests and per 1,000 connections."""
    server = _Server(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with ProxyProcess(server.server_address[1], 0.0) as p:
            bulk = _cpu_of(p, lambda: _bulk(p.port, gib << 30))
            req = _cpu_of(p, lambda: _parallel(_requests, p.port, requests))
            conn = _cpu_of(p, lambda: _parallel(_connections, p.port, connections))
    finally:
        server.shutdown()
        server.server_close()
    return {
        "cpu_s_per_gb": round(bulk / (2 * (gib << 30) / 1e9), 3),  # both ways counted
        "cpu_s_per_1000_requests": round(1000 * req / requests, 3),
        "cpu_s_per_1000_connections": round(1000 * conn / connections, 3),
        "response_bytes": RESPONSE,
    }


if __name__ == "__main__":
    print(json.dumps(calibrate()))
    sys.exit(0)
