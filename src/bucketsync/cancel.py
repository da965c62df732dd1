"""Stopping a sync part-way: Ctrl-C, SIGTERM, or a notebook kernel's interrupt.

While transfers run, a signal only sets the job's `Cancel`; the main thread sees it
within `POLL` seconds at a point where nothing is half-recorded, and worker threads
see it between chunks (128 KiB reads), parts and ranges, and raise `Cancelled`. The
main thread then waits up to `GRACE` seconds for what is in flight, keeps what
finished (the caller records it) and raises KeyboardInterrupt (`Terminated` for
SIGTERM). Threads cannot be killed: a read blocked on a silent server ends at its
read timeout, after the sync has returned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor, wait
from types import FrameType
from typing import Any, TypeVar

POLL = 0.1  # how often a waiting main thread looks for an interrupt
GRACE = 3.0  # how long an interrupted sync waits for the work in flight to stop
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number
T = TypeVar("T")


class Cancelled(Exception):
    """Raised in a worker whose sync was interrupted: the file is not done, not failed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, stopping a sync as Ctrl-C does."""


def terminate(signum: int, frame: FrameType | None) -> None:
    """A SIGTERM handler that raises `Terminated` (installed by the command line)."""
    raise Terminated()


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """The exit code of a process stopped by this interrupt: 128 + the signal's number."""
    return EXIT_CODES[signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT]


def leave_if_stuck(code: int, wait: float = 0.5) -> None:
    """End the process with `code` now if work threads are still busy after an interrupt
    (a read from a silent server that only its read timeout would end): the exit would
    otherwise wait for them. Their temporary files are left to the next run's walk."""
    deadline = time.monotonic() + wait
    for thread in threading.enumerate():
        if thread.name.startswith("bucketsync-") and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)


class Cancel:
    """Whether a sync was told to stop, shared by its main thread and its workers."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._signal = signal.SIGINT

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self, signum: int = signal.SIGINT) -> None:
        if not self._event.is_set():
            self._signal = signal.Signals(signum)
        self._event.set()

    def reset(self) -> None:
        """Ready for a new operation (a Mirror's job outlives an interrupted one)."""
        self._event.clear()

    def check(self) -> None:
        """In a worker: raise `Cancelled` once the sync was told to stop."""
        if self._event.is_set():
            raise Cancelled("interrupted")

    def sleep(self, seconds: float) -> None:
        """Sleep, unless (or until) the sync is told to stop: then raise `Cancelled`."""
        if self._event.wait(seconds):
            raise Cancelled("interrupted")

    def interruption(self) -> KeyboardInterrupt:
        return Terminated() if self._signal == signal.SIGTERM else KeyboardInterrupt()

    def raise_if_set(self) -> None:
        """In the main thread, at a safe point: raise the interrupt a signal deferred."""
        if self._event.is_set():
            raise self.interruption()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Run a block whose main thread polls `raise_if_set`: a SIGINT (and a SIGTERM
        the command line turns into `Terminated`) only sets the flag meanwhile. A second
        signal raises at once. Elsewhere than in the main thread, nothing changes."""
        self.reset()
        try:
            with self._handlers():
                yield
        except Cancelled:  # a worker's, passed on by the main thread
            raise self.interruption() from None
        self.raise_if_set()

    @contextlib.contextmanager
    def _handlers(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        ours = (signal.default_int_handler, terminate)
        saved = {s: signal.getsignal(s) for s in EXIT_CODES if signal.getsignal(s) in ours}
        for signum in saved:
            signal.signal(signum, self._on_signal)
        try:
            yield
        finally:
            for signum, handler in saved.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._event.is_set():
            raise self.interruption()  # asked twice: stop waiting for anything
        self.set(signum)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises `Terminated` in the main thread while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def pool(
    cancel: Cancel, workers: int, name: str, stopping: Callable[[], None] | None = None
) -> Iterator[ThreadPoolExecutor]:
    """A thread pool that, left by an exception (an interrupt), tells its running work
    to stop (`cancel`), runs `stopping()` (to wait for it a bounded time) and drops its
    queued work instead of carrying it all out first."""
    executor = ThreadPoolExecutor(workers, thread_name_prefix=name)
    try:
        yield executor
    except BaseException as e:
        cancel.set(signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)
        if stopping is not None:
            stopping()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown(wait=True)


def each(
    pool: Executor,
    work: Callable[[Any], T],
    items: Iterable[Any],
    stop: Callable[[], None] | None = None,
) -> list[T]:
    """work(item) for every item, on the pool; on a failure or an interrupt, `stop()`, drop
    what has not started and wait for what runs: none of it outlives the call (a file it
    reads or writes is closed after)."""
    futures = [pool.submit(work, item) for item in items]
    try:
        return [future.result() for future in futures]
    except BaseException:
        if stop is not None:
            stop()
        raise
    finally:
        wait([future for future in futures if not future.cancel()])
