"""How many requests go out at once: a window that backs off when the server pushes back.

AIMD, as TCP does: the window starts at its cap (what `--jobs` allows: today's fixed
window, so a link that never pushes back sees no change), is halved when a request
is throttled (503 SlowDown, 429, the other throttling codes) or times out, and
grows back by about one request per window of successes, never past the cap nor
below the floor. A back-off answers one burst: the throttled answers to requests
that were already in flight when the window was cut do not cut it again.

One window gates every botocore request of a connection (HEAD checks, GETs, PUTs,
parts: taken when a request is sent, given back when its answer is in, so retry
back-offs hold no place), and another the small transfers on awscrt's pipeline.
The logic is plain data in, numbers out: `Window` is tested without a server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .retry import Failure

log = logging.getLogger("bucketsync.requests")
CONGESTION: frozenset[Failure] = frozenset({"server", "timeout", "stalled"})
_WAIT = 0.25  # seconds between looks at `stop` while waiting for a place


class Window:
    """An AIMD window of requests in flight, between `floor` and `cap`; thread-safe."""

    def __init__(self, cap: int, floor: int = 1, name: str = "requests") -> None:
        if not 1 <= floor <= cap:
            raise ValueError(f"a window needs 1 <= floor <= cap, got {floor}, {cap}")
        self.cap, self.floor, self.name = cap, floor, name
        self._size = float(cap)
        self._flying = 0
        self._sent = 0  # requests sent so far; a request's ticket is its number
        self._calm_until = 0  # throttled answers to tickets up to here cut no more
        self.cuts = 0  # times the window was cut (for reports and tests)
        self.smallest = cap  # the smallest size it was cut to
        self._cond = threading.Condition()

    @property
    def size(self) -> int:
        """Requests that may be in flight now."""
        return max(self.floor, int(self._size))

    @property
    def flying(self) -> int:
        return self._flying

    def ticket(self) -> int:
        """Count a request as sent without waiting for a place (the caller keeps its own
        count in flight against `size`, as the pipeline does); its ticket."""
        with self._cond:
            self._sent += 1
            return self._sent

    def take(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Wait for a place (or until `stop()`), take it; the request's ticket."""
        with self._cond:
            while self._flying >= self.size and not stop():
                self._cond.wait(_WAIT)
            self._flying += 1
            self._sent += 1
            return self._sent

    def give_back(self) -> None:
        """Free a place taken by `take`."""
        with self._cond:
            self._flying = max(0, self._flying - 1)
            self._cond.notify()

    def answered(self, ticket: int, failure: Failure | None) -> None:
        """Learn from a request's outcome: grow on a success, halve on congestion."""
        with self._cond:
            if failure is None:
                self._size = min(float(self.cap), self._size + 1.0 / max(self._size, 1.0))
                self._cond.notify()
            elif failure in CONGESTION and ticket > self._calm_until and self.size > self.floor:
                self._size = max(float(self.floor), self._size / 2)
                self._calm_until = self._sent
                self.cuts += 1
                self.smallest = min(self.smallest, self.size)
                log.info("%s window cut to %d after %s", self.name, self.size, failure)


class BotocoreGate:
    """A `Window` on a botocore client's requests: a place is taken before each send
    (`before-send`) and given back with its answer (`needs-retry`, which `retry.py`'s
    handler reports to `answered`). A thread holds at most one place: one left over by
    a request that never reached `needs-retry` is given back at its thread's next send."""

    def __init__(self, window: Window, stop: Callable[[], bool] = lambda: False) -> None:
        self.window = window
        self.stop = stop
        self._held = threading.local()

    def before_send(self, **_: Any) -> None:
        if getattr(self._held, "ticket", None) is not None:
            self.window.give_back()
        self._held.ticket = self.window.take(self.stop)

    def answered(self, failure: Failure | None) -> None:
        ticket = getattr(self._held, "ticket", None)
        if ticket is None:
            return
        self._held.ticket = None
        self.window.give_back()
        self.window.answered(ticket, failure)
