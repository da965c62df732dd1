"""A WAN link in front of a benchmark server: tools/latencyproxy.py in its own process.

``Link(server, delay_ms)`` starts the proxy; ``link.view`` is the server as the tools see
it (its endpoint is the proxy's), while the harness keeps talking to the server directly
for its checks. The runner asks the view for the proxy's counters before and after each
run, so every run through a link records the proxy's CPU seconds, bytes and requests.
"""

from __future__ import annotations

import dataclasses
from types import TracebackType

from latencyproxy import ProxyProcess
from s3servers import S3Server

from .servers import BenchServer

STAT_KEYS = ("cpu_s", "connections", "up_bytes", "down_bytes", "requests")


class LinkedServer(BenchServer):
    """A running server seen through a latency proxy (same data, same server process)."""

    def __init__(self, inner: BenchServer, proxy: ProxyProcess) -> None:
        super().__init__(inner.kind, inner.root)
        self.port = inner.port
        self.inner = inner
        self.proxy = proxy

    @property
    def server(self) -> S3Server:
        return dataclasses.replace(self.inner.server, endpoint_url=self.proxy.url)

    @property
    def pid(self) -> int | None:
        return self.inner.pid

    def link_stats(self) -> dict[str, float] | None:
        return self.proxy.stats()

    def describe(self) -> str:
        delay = f"{self.proxy.delay_ms:g} ms one way"
        return f"{self.inner.describe()} behind the latency proxy, {delay}"


class Link:
    """The proxy for one delay, for the life of a `with` block."""

    def __init__(self, server: BenchServer, delay_ms: float) -> None:
        self.server = server
        self.delay_ms = delay_ms
        self._proxy: ProxyProcess | None = None

    @property
    def view(self) -> LinkedServer:
        if self._proxy is None:
            raise RuntimeError("the link is not up")
        return LinkedServer(self.server, self._proxy)

    def __enter__(self) -> Link:
        self._proxy = ProxyProcess(self.server.port, self.delay_ms)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None


def stats_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What went through the proxy (and its CPU) between two readings."""
    return {k: round(after.get(k, 0) - before.get(k, 0), 4) for k in STAT_KEYS}
