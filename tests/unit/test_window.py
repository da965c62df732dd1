"""The AIMD window of requests in flight, on plain data: no server, no clock."""

from __future__ import annotations

import threading

import pytest

from bucketsync.stores.window import BotocoreGate, Window


def test_a_window_starts_at_its_cap_and_a_success_keeps_it_there() -> None:
    window = Window(16)
    assert window.size == 16
    for _ in range(100):
        window.answered(window.ticket(), None)
    assert window.size == 16 and window.cuts == 0


@pytest.mark.parametrize("failure", ["server", "timeout", "stalled"])
def test_throttling_and_timeouts_halve_it_down_to_the_floor(failure: str) -> None:
    window = Window(64, floor=2)
    sizes = []
    for _ in range(8):
        window.answered(window.ticket(), failure)  # type: ignore[arg-type]
        sizes.append(window.size)
    assert sizes == [32, 16, 8, 4, 2, 2, 2, 2] and window.cuts == 5


@pytest.mark.parametrize("failure", ["refused", "dns", "tls", "reset", "other"])
def test_other_failures_do_not_move_it(failure: str) -> None:
    window = Window(8)
    window.answered(window.ticket(), failure)  # type: ignore[arg-type]
    assert window.size == 8 and window.cuts == 0


def test_one_burst_of_throttled_answers_cuts_once() -> None:
    """Requests already in flight when the window was cut answer with the same 503s:
    one cut per burst, as TCP halves once per window of losses."""
    window = Window(32)
    burst = [window.ticket() for _ in range(32)]
    for ticket in burst:
        window.answered(ticket, "server")
    assert window.size == 16 and window.cuts == 1
    later = window.ticket()  # sent after the cut: its 503 is news
    window.answered(later, "server")
    assert window.size == 8 and window.cuts == 2 and window.smallest == 8


def test_it_grows_back_by_about_one_per_window_of_successes() -> None:
    window = Window(16)
    window.answered(window.ticket(), "server")
    assert window.size == 8
    grown = []
    for _ in range(4):
        for _ in range(window.size):
            window.answered(window.ticket(), None)
        grown.append(window.size)
    assert grown == [8, 9, 10, 11]  # 1/size a success: a little under one a window
    for _ in range(1000):
        window.answered(window.ticket(), None)
    assert window.size == 16  # never past the cap


def test_take_waits_for_a_place_within_the_window() -> None:
    window = Window(4)
    window.answered(window.ticket(), "server")  # size 2
    tickets = [window.take(), window.take()]
    assert window.flying == 2 and tickets == [2, 3]
    got: list[int] = []
    third = threading.Thread(target=lambda: got.append(window.take()))
    third.start()
    third.join(0.3)
    assert third.is_alive() and not got  # waiting: the window is full
    window.give_back()
    third.join(5)
    assert got == [4] and window.flying == 2


def test_take_stops_waiting_when_told() -> None:
    window = Window(1)
    window.take()
    assert window.take(stop=lambda: True) == 2  # goes out anyway: the caller stops it


def test_the_gate_holds_one_place_per_thread_and_reports_answers() -> None:
    window = Window(8)
    gate = BotocoreGate(window)
    gate.before_send()
    assert window.flying == 1
    gate.before_send()  # its last request never reached needs-retry: that place is freed
    assert window.flying == 1
    gate.answered("server")
    assert window.flying == 0 and window.size == 4
    gate.answered(None)  # nothing held: nothing to learn from
    assert window.size == 4


def test_bad_bounds() -> None:
    with pytest.raises(ValueError, match="floor <= cap"):
        Window(2, floor=3)
