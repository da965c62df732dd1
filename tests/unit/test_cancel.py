"""cancel.py: the stop flag, signals deferred to safe points, pools that drop queued work."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from bucketsync.cancel import (
    Cancel,
    Cancelled,
    Terminated,
    exit_code,
    pool,
    sigterm_raises,
)


def test_workers_see_the_flag() -> None:
    cancel = Cancel()
    cancel.check()
    cancel.set()
    with pytest.raises(Cancelled):
        cancel.check()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        cancel.sleep(30)
    assert time.monotonic() - started < 1
    cancel.reset()
    cancel.check()


def test_a_signal_in_a_deferred_block_waits_for_a_safe_point() -> None:
    cancel = Cancel()
    reached = False
    with pytest.raises(KeyboardInterrupt), cancel.deferred():
        signal.raise_signal(signal.SIGINT)  # only sets the flag
        reached = True
        cancel.raise_if_set()
    assert reached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_signal_raises_at_once() -> None:
    cancel = Cancel()
    with pytest.raises(KeyboardInterrupt), cancel.deferred():
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        pytest.fail("the second signal did not raise")


def test_a_signal_seen_only_at_the_end_still_raises() -> None:
    cancel = Cancel()
    with pytest.raises(KeyboardInterrupt), cancel.deferred():
        signal.raise_signal(signal.SIGINT)


def test_a_workers_cancelled_becomes_the_interrupt() -> None:
    cancel = Cancel()
    with pytest.raises(Terminated), sigterm_raises(), cancel.deferred():
        signal.raise_signal(signal.SIGTERM)
        cancel.check()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_raises_terminated_and_exit_codes() -> None:
    with pytest.raises(Terminated), sigterm_raises():
        signal.raise_signal(signal.SIGTERM)
    assert exit_code(Terminated()) == 143
    assert exit_code(KeyboardInterrupt()) == 130


def test_other_threads_keep_their_signals() -> None:
    cancel = Cancel()
    seen: list[object] = []

    def run() -> None:
        with cancel.deferred():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def test_an_interrupted_pool_drops_queued_work() -> None:
    cancel = Cancel()
    ran: list[int] = []
    started, release = threading.Event(), threading.Event()

    def work(n: int) -> None:
        started.set()
        release.wait(5)
        cancel.check()
        ran.append(n)

    with pytest.raises(KeyboardInterrupt), pool(cancel, 1, "bucketsync-test") as workers:
        futures = [workers.submit(work, n) for n in range(10)]
        assert started.wait(5)
        raise KeyboardInterrupt
    release.set()
    assert cancel.is_set
    assert sum(f.cancelled() for f in futures) == 9
    with pytest.raises(Cancelled):
        futures[0].result(timeout=5)
    assert ran == []
