"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 for S3 reliability tests.

Each client connection gets its own upstream connection. The proxy reads one whole
request, decides its fault with a seeded ``random.Random`` (one draw per request, so the
sequence depends only on the seed and the request order), forwards it, reads one whole
response and forwards it, possibly mangled. Bodies are buffered in memory. The link can
be slowed too: a latency added to every request, and a rate (bytes per second, per
connection) that holds a request back for its body's time and trickles responses out.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import struct
import threading
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

KINDS = ("reset", "truncate", "stall", "error_500", "slow_down")
_LIMIT = 1 << 20  # longest header block or chunk-size line accepted
_TICK = 0.01  # a throttled response is sent in slices this many seconds apart
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_ERRORS = {
    "error_500": (
        "500 Internal Server Error",
        "InternalError",
        "We encountered an internal error. Please try again.",
    ),
    "slow_down": ("503 Slow Down", "SlowDown", "Please reduce your request rate."),
    "bad_gateway": ("502 Bad Gateway", "BadGateway", "FaultProxy could not reach upstream."),
}
_NET_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


@dataclass
class Faults:
    """Fault rates (fractions of requests, summing to at most 1) and their options."""

    seed: int = 0
    reset: float = 0.0
    truncate: float = 0.0
    stall: float = 0.0
    stall_seconds: float = 30.0
    error_500: float = 0.0
    slow_down: float = 0.0
    only_methods: frozenset[str] | None = None
    max_faults: int | None = None
    latency: float = 0.0  # seconds added to every request before it is forwarded
    rate: float | None = None  # bytes per second per connection, each way (None: no limit)

    def __post_init__(self) -> None:
        rates = [getattr(self, kind) for kind in KINDS]
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"fault rates must be in [0, 1] and sum to <= 1: {rates}")
        if not all(math.isfinite(x) and x >= 0 for x in (self.stall_seconds, self.latency)):
            raise ValueError("stall_seconds and latency must be finite and >= 0")
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError("rate must be positive and finite")

    def delay(self, size: int) -> float:
        """Seconds a message of `size` body bytes takes on the emulated link."""
        return self.latency + (size / self.rate if self.rate else 0.0)

    def pick(self, draw: float) -> str:
        """Map a uniform draw in [0, 1) to a fault kind or "ok"."""
        edge = 0.0
        for kind in KINDS:
            edge += getattr(self, kind)
            if draw < edge:
                return kind
        return "ok"


@dataclass
class _Message:
    """One HTTP message: start line, headers in order, raw (still framed) body."""

    start: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Value of the first header called ``name`` (case-insensitive)."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    def has_token(self, name: str, token: str) -> bool:
        """Whether the comma-separated header ``name`` contains ``token``."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return any(t.strip().lower() == token for v in values for t in v.split(","))

    def head(self) -> bytes:
        """Start line and headers, serialized."""
        lines = [self.start, *(f"{k}: {v}" for k, v in self.headers), "", ""]
        return "\r\n".join(lines).encode("latin-1")

    def keep_alive(self) -> bool:
        """Whether the connection may be reused after this message."""
        if self.has_token("connection", "close"):
            return False
        return not self.start.upper().startswith("HTTP/1.0") or self.has_token(
            "connection", "keep-alive"
        )


async def _read_head(reader: asyncio.StreamReader) -> _Message | None:
    """Read a start line and headers; None on a clean EOF before any byte."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    start, *lines = raw[:-4].decode("latin-1").split("\r\n")
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    return _Message(start, headers)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """Read a chunked body verbatim, chunk extensions and trailers included."""
    parts = []
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        parts.append(await reader.readexactly(size + 2))
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        if line == b"\r\n":
            return b"".join(parts)


async def _read_body(reader: asyncio.StreamReader, msg: _Message, until_eof: bool) -> None:
    """Fill ``msg.body`` according to its framing headers."""
    length = msg.header("content-length")
    if msg.has_token("transfer-encoding", "chunked"):
        msg.body = await _read_chunked(reader)
    elif length is not None:
        msg.body = await reader.readexactly(int(length))
    elif until_eof:
        msg.body = await reader.read()


def _error_response(kind: str, req: _Message, number: int) -> bytes:
    """An S3-style XML error response made by the proxy itself."""
    status, code, text = _ERRORS[kind]
    method, target = _request_line(req)
    request_id = f"FAULTPROXY{number:08d}"
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{text}</Message>"
        f"<Resource>{escape(target)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()
    body = b"" if method == "HEAD" else xml
    headers = [
        ("x-amz-request-id", request_id),
        *([("Connection", "close")] if kind == "bad_gateway" else []),
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(body))),
        ("Server", "FaultProxy"),
    ]
    return _Message(f"HTTP/1.1 {status}", headers).head() + body


def _request_line(req: _Message) -> tuple[str, str]:
    """(method, target) of a request."""
    parts = req.start.split(" ")
    return parts[0].upper(), parts[1] if len(parts) > 1 else ""


def _status(resp: _Message) -> int:
    """Status code of a response."""
    return int(resp.start.split(" ")[1])


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _close(writer: asyncio.StreamWriter | None) -> None:
    """Close a writer, ignoring errors."""
    if writer is not None:
        with contextlib.suppress(Exception):
            writer.close()


class _Session:
    """One client connection and the upstream connection serving it."""

    def __init__(
        self, proxy: FaultProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy = proxy
        self.reader = reader
        self.writer = writer
        self.up: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def run(self) -> None:
        """Serve requests until either side closes or a fault ends the connection."""
        try:
            while await self._exchange():
                pass
        except _NET_ERRORS:
            pass
        finally:
            _close(self.writer)
            self._drop_upstream()

    async def _exchange(self) -> bool:
        """Handle one request; return whether to keep the connection."""
        req = await self._read_request()
        if req is None:
            return False
        kind, faults, number = self.proxy._decide(req)
        await asyncio.sleep(faults.delay(len(req.body)))  # the request's way there
        if kind == "reset":
            _reset(self.writer)
            return False
        if kind in ("error_500", "slow_down"):
            await self._send(_error_response(kind, req, number))
            return req.keep_alive()
        if kind == "stall":
            await asyncio.sleep(faults.stall_seconds)
        try:
            resp = await self._roundtrip(req)
        except (OSError, asyncio.IncompleteReadError):
            await self._send(_error_response("bad_gateway", req, number))
            return False
        if kind == "truncate":
            await self._send(_truncated(resp))
            return False
        self.proxy.count_bytes(len(req.body), len(resp.body))
        await self._send(resp.head() + resp.body, faults.rate)
        return req.keep_alive() and resp.keep_alive()

    async def _read_request(self) -> _Message | None:
        """Read one request; answer ``Expect: 100-continue`` here and strip it."""
        req = await _read_head(self.reader)
        if req is None:
            return None
        if req.has_token("expect", "100-continue"):
            req.headers = [(k, v) for k, v in req.headers if k.lower() != "expect"]
            await self._send(_CONTINUE)
        await _read_body(self.reader, req, until_eof=False)
        return req

    async def _send(self, data: bytes, rate: float | None = None) -> None:
        """Write bytes to the client, at most `rate` bytes a second."""
        step = max(1, int(rate * _TICK)) if rate else len(data) or 1
        for start in range(0, len(data), step):
            if start:
                await asyncio.sleep(_TICK)
            self.writer.write(data[start : start + step])
            await self.writer.drain()

    async def _roundtrip(self, req: _Message) -> _Message:
        """Forward a request upstream and read its response (one retry on a stale link)."""
        reused = self.up is not None
        try:
            return await self._try_roundtrip(req)
        except (OSError, asyncio.IncompleteReadError):
            if not reused:
                raise
            self._drop_upstream()
            return await self._try_roundtrip(req)

    async def _try_roundtrip(self, req: _Message) -> _Message:
        """Send a request on the upstream connection and read the final response."""
        if self.up is None:
            self.up = await asyncio.open_connection(*self.proxy.upstream, limit=_LIMIT)
        up_reader, up_writer = self.up
        up_writer.write(req.head() + req.body)
        await up_writer.drain()
        resp = await self._read_response(up_reader, _request_line(req)[0])
        if not resp.keep_alive():
            self._drop_upstream()
        return resp

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader, method: str) -> _Message:
        """Read the final response, skipping 1xx interim responses."""
        while True:
            resp = await _read_head(reader)
            if resp is None:
                raise asyncio.IncompleteReadError(b"", None)
            status = _status(resp)
            if status >= 200:
                break
        if method != "HEAD" and status not in (204, 304):
            chunked = resp.has_token("transfer-encoding", "chunked")
            framed = chunked or resp.header("content-length") is not None
            await _read_body(reader, resp, until_eof=True)
            if not framed:
                resp.headers.append(("Connection", "close"))
        return resp

    def _drop_upstream(self) -> None:
        """Close the upstream connection, if any."""
        if self.up is not None:
            _close(self.up[1])
            self.up = None


def _truncated(resp: _Message) -> bytes:
    """Full headers and half the body; half the status line if there is no body.

    (A client takes EOF inside the header block as its end, so only a cut status line is
    sure to be noticed when there is no body to cut.)
    """
    if resp.body:
        return resp.head() + resp.body[: len(resp.body) // 2]
    return resp.start.encode("latin-1")[: len(resp.start) // 2]


class FaultProxy:
    """The proxy: an asyncio server running in a background thread."""

    def __init__(self, upstream: str, faults: Faults) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://HOST:PORT, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self.stats: dict[str, int] = dict.fromkeys(
            ("connections", "requests", "ok", *KINDS, "answered", "bytes_up", "bytes_down"), 0
        )
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._faults = faults
        self._rng = random.Random(faults.seed)
        self._injected = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._port = 0

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running proxy."""
        if not self._port:
            raise RuntimeError("FaultProxy is not started")
        return f"http://127.0.0.1:{self._port}"

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults; reseeds the generator and restarts the max_faults count."""
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)
            self._injected = 0

    def start(self) -> FaultProxy:
        """Start listening on a free port of 127.0.0.1."""
        if self._loop is not None:
            raise RuntimeError("FaultProxy already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="faultproxy", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result()
        return self

    def stop(self) -> None:
        """Close all connections and stop the background thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None
        self._port = 0

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=_LIMIT)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        with self._lock:
            self.stats["connections"] += 1
        try:
            with contextlib.suppress(asyncio.CancelledError):  # only stop() cancels
                await _Session(self, reader, writer).run()
        finally:
            self._tasks.discard(task)

    def count_bytes(self, up: int, down: int) -> None:
        """Count a request answered by the server, and the body bytes of the request and
        of its response (stats "answered", "bytes_up", "bytes_down")."""
        with self._lock:
            self.stats["answered"] += 1
            self.stats["bytes_up"] += up
            self.stats["bytes_down"] += down

    def _decide(self, req: _Message) -> tuple[str, Faults, int]:
        """Draw the fault for the next request; log and count it."""
        method, target = _request_line(req)
        with self._lock:
            faults = self._faults
            kind = faults.pick(self._rng.random())
            skip = faults.only_methods is not None and method not in faults.only_methods
            if skip or (faults.max_faults is not None and self._injected >= faults.max_faults):
                kind = "ok"
            self._injected += kind != "ok"
            self.stats["requests"] += 1
            self.stats[kind] += 1
            self.log.append((method, target, kind))
            return kind, faults, self.stats["requests"]
