"""A TCP proxy on 127.0.0.1 that adds a fixed one-way delay: a WAN link for benchmarks.

``python tools/latencyproxy.py UPSTREAM_PORT DELAY_MS [--upstream-host H] [--port P]``

Every chunk read from one side is written to the other ``DELAY_MS`` later, in order, in
both directions, so a request and its response cost two delays (one round trip). A new
connection is accepted at once by the kernel, so the proxy holds a client's first bytes
until one more round trip has passed since the accept, as a TCP handshake would. There
is no throughput cap: a side is paused only while the other side's send buffer is full.

It runs as a process of its own (stdlib only), so its CPU time never lands on the tool
being measured. It prints ``port N`` once listening, then answers each ``stats`` line on
stdin with one JSON line: its own CPU seconds (``getrusage``), connections, bytes each
way, and requests (HTTP/1.1 request lines seen going upstream). It stops by itself when
stdin closes (its parent exited or let go of it), or on SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

HOST = "127.0.0.1"
REQUEST_MARK = b" HTTP/1.1\r\n"  # ends every request line (upload bodies are random bytes)
HIGH_WATER = 4 << 20  # pause the reading side while the writing side buffers this much


def checked_delay(delay_ms: float) -> float:
    """The one-way delay, if it is a finite number of milliseconds, 0 or more (NaN would
    make the event loop spin and deliver nothing)."""
    if not (math.isfinite(delay_ms) and delay_ms >= 0):
        raise ValueError(f"the delay must be a finite number of ms, 0 or more, not {delay_ms}")
    return delay_ms


def _delay_arg(text: str) -> float:
    try:
        return checked_delay(float(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class Counters:
    """What went through the proxy since it started."""

    def __init__(self) -> None:
        self.connections = 0
        self.up_bytes = 0
        self.down_bytes = 0
        self.requests = 0

    def snapshot(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
            "connections": self.connections,
            "up_bytes": self.up_bytes,
            "down_bytes": self.down_bytes,
            "requests": self.requests,
        }


class Pipe:
    """One direction of a connection: chunks wait `delay` seconds, then go out in order."""

    EOF = b""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, not_before: float) -> None:
        self.loop = loop
        self.delay = delay
        self.not_before = not_before  # the end of the emulated handshake (upstream pipe)
        self.out: Side | None = None  # set once the destination is connected
        self.source: asyncio.Transport | None = None  # paused while `out` is full
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    def push(self, data: bytes) -> None:
        """Queue a chunk (b"" stands for end of stream) for delivery after the delay."""
        due = max(self.loop.time(), self.not_before) + self.delay
        self.queue.append((due, data))
        if self.timer is None and self.out is not None:
            self.timer = self.loop.call_at(due, self.flush)

    def attach(self, out: Side) -> None:
        self.out = out
        if self.queue and self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)

    def flush(self) -> None:
        """Write every chunk that is due; schedule the next one."""
        self.timer = None
        out, now = self.out, self.loop.time()
        while self.queue and self.queue[0][0] <= now and out is not None and not self.closed:
            data = self.queue.popleft()[1]
            if data:
                out.write(data)
            else:
                self.closed = True
                out.end_output()
        if self.queue and not self.closed:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)

    def drop(self) -> None:
        """Forget queued data (the destination went away)."""
        self.closed = True
        self.queue.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Side(asyncio.Protocol):
    """One socket of a proxied connection: what it reads goes into `inbound`."""

    def __init__(self, inbound: Pipe, outbound: Pipe, counters: Counters, upstream: bool) -> None:
        self.inbound = inbound  # data read here, on its way to the other side
        self.outbound = outbound  # data on its way to this side
        self.counters = counters
        self.upstream = upstream  # True for the socket to the server
        self.transport: asyncio.Transport | None = None
        self.tail = b""  # last bytes read (client side), for request lines split in two
        self.read_done = self.write_done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER)
        self.inbound.source = transport
        self.outbound.attach(self)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def end_output(self) -> None:
        """The other side ended its stream: half-close this socket, or close it."""
        self.write_done = True
        t = self.transport
        if t is None or t.is_closing():
            return
        if self.read_done or not t.can_write_eof():
            t.close()
        else:
            t.write_eof()

    def data_received(self, data: bytes) -> None:
        if self.upstream:
            self.counters.down_bytes += len(data)
        else:
            self.counters.up_bytes += len(data)
            seen = self.tail + data
            self.counters.requests += seen.count(REQUEST_MARK)
            self.tail = seen[-(len(REQUEST_MARK) - 1) :]
        self.inbound.push(data)

    def eof_received(self) -> bool:
        self.read_done = True
        self.inbound.push(Pipe.EOF)
        return not self.write_done  # keep the socket open for the other direction

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.read_done:
            self.read_done = True
            self.inbound.push(Pipe.EOF)  # ends the other side's stream after the delay
        self.outbound.drop()

    def pause_writing(self) -> None:
        if self.outbound.source is not None:
            self.outbound.source.pause_reading()

    def resume_writing(self) -> None:
        if self.outbound.source is not None and not self.outbound.source.is_closing():
            self.outbound.source.resume_reading()


class LatencyProxy:
    """The asyncio server: one upstream connection per client connection."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.counters = Counters()
        self._connecting: set[asyncio.Task[None]] = set()

    async def serve(self, port: int = 0) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(self._client, HOST, port)

    def _client(self) -> Side:
        loop = asyncio.get_running_loop()
        self.counters.connections += 1
        up = Pipe(loop, self.delay, loop.time() + 2 * self.delay)
        down = Pipe(loop, self.delay, 0.0)
        client = Side(up, down, self.counters, upstream=False)
        task = loop.create_task(self._connect(up, down, client))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return client

    async def _connect(self, up: Pipe, down: Pipe, client: Side) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.upstream
        try:
            await loop.create_connection(lambda: Side(down, up, self.counters, True), host, port)
        except OSError:
            up.drop()
            if client.transport is not None:
                client.transport.abort()


def _stdin_commands(loop: asyncio.AbstractEventLoop, proxy: LatencyProxy, done: Any) -> None:
    """Answer `stats` lines; at end of input, stop the proxy (runs in a thread)."""
    for line in sys.stdin:
        if line.strip() == "stats":
            print(json.dumps(proxy.counters.snapshot()), flush=True)
    loop.call_soon_threadsafe(done.set)


async def run(upstream: tuple[str, int], delay_ms: float, port: int) -> None:
    """Serve until stdin closes or a SIGTERM / SIGINT arrives."""
    loop = asyncio.get_running_loop()
    proxy = LatencyProxy(upstream, delay_ms / 1000)
    server = await proxy.serve(port)
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    threading.Thread(target=_stdin_commands, args=(loop, proxy, done), daemon=True).start()
    await done.wait()
    server.close()


class ProxyProcess:
    """This proxy started as a child process, its stats read through its stdin."""

    def __init__(self, upstream_port: int, delay_ms: float, python: str = sys.executable) -> None:
        self.delay_ms = checked_delay(delay_ms)
        cmd = [python, str(Path(__file__).resolve()), str(upstream_port), str(delay_ms)]
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.port = int(self._line().split()[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stats(self) -> dict[str, float]:
        """The proxy's counters and its CPU seconds so far."""
        assert self.process.stdin is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return dict(json.loads(self._line()))

    def stop(self, timeout: float = 10.0) -> int:
        """Close its stdin (it stops by itself); kill it if it does not."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def _line(self) -> str:
        out: IO[str] | None = self.process.stdout
        line = out.readline() if out is not None else ""
        if not line:
            raise RuntimeError(f"latency proxy exited with {self.process.poll()}")
        return line

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("upstream_port", type=int)
    p.add_argument("delay_ms", type=_delay_arg, help="one-way delay in milliseconds")
    p.add_argument("--upstream-host", default=HOST)
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free)")
    args = p.parse_args(argv)
    asyncio.run(run((args.upstream_host, args.upstream_port), args.delay_ms, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
