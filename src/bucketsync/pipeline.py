"""Many small transfers on awscrt without a thread per file.

Requests go out from one thread, a window at a time, and each file is finished
(written and renamed into place, or its upload recorded) on that thread as its reply
comes back, so a file costs no thread hand-offs beyond awscrt's own. Finishing files
on other threads (3 finishers, or awscrt's callback thread) was measured slower on a
10,000-file pull: the work per file is Python and short system calls under one GIL,
and more threads only add hand-offs of it. A file that fails is handed back to the
caller, whose threaded path has the retries; so is everything after the endpoint
stops answering. An interrupt cancels the requests in flight and hands them back;
of the replies already in, uploads are recorded, and downloads, whose landing stops
at the interrupt (`transfer._receive`), are handed back too.
"""

from __future__ import annotations

import functools
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import errors
from .cancel import POLL, Cancel, Cancelled
from .entries import Record
from .plan import Action
from .stores.crt import Reply
from .stores.window import Window


@dataclass
class Sent:
    """A request awscrt is carrying out, and how to finish its file once it ends."""

    reply: Reply
    finish: Callable[[], Record]


Send = Callable[[Action, Callable[[Reply], None]], Sent]
Replies = queue.SimpleQueue[tuple[Action, Reply]]  # filled on awscrt's threads


def pipeline(
    actions: list[Action],
    send: Send,
    landed: Callable[[Action, Record], None],
    window: Window,
    timeout: float,
    cancel: Cancel,
) -> list[Action]:
    """Send and finish every action, reporting each finished file to `landed`; return
    the actions left over: failed, not sent, or cut off by a stalled endpoint or an
    interrupt (`cancel`). At most `window.size` requests fly at once; the window learns
    from each reply (it shrinks when the server throttles, see stores/window.py)."""
    replies: Replies = queue.SimpleQueue()
    flying: dict[Reply, tuple[Action, Callable[[], Record]]] = {}
    tickets: dict[Reply, int] = {}
    left: list[Action] = []
    waiting = iter(actions)
    sending = True
    heard = time.monotonic()
    while True:
        while sending and len(flying) < window.size and not cancel.is_set:
            action = next(waiting, None)
            if action is None:
                break
            try:
                sent = send(action, functools.partial(_deliver, replies, action))
            except (errors.BucketsyncError, OSError):
                left.append(action)
                continue
            flying[sent.reply] = (action, sent.finish)
            tickets[sent.reply] = window.ticket()
        if not flying:
            break
        try:  # once interrupted, only what already came back is finished (or handed back)
            action, reply = replies.get(block=not cancel.is_set, timeout=POLL)
        except queue.Empty:
            # Stalled (let the threaded path decide) or interrupted: cancel what flies.
            if cancel.is_set or time.monotonic() - heard > timeout:
                left.extend(_drop(flying))
                break
            continue
        heard = time.monotonic()
        ticket = tickets.pop(reply)
        try:
            record = flying.pop(reply)[1]()
        except (errors.BucketsyncError, OSError, Cancelled) as e:
            window.answered(ticket, reply.failure)
            left.append(action)
            sending = sending and not isinstance(e, errors.EndpointError)
            continue
        window.answered(ticket, None)
        landed(action, record)
    return [*left, *waiting]


def _drop(flying: dict[Reply, tuple[Action, Callable[[], Record]]]) -> list[Action]:
    """Cancel the requests in flight; their actions."""
    for reply in flying:
        reply.cancel()
    return [action for action, _ in flying.values()]


def _deliver(replies: Replies, action: Action, reply: Reply) -> None:
    replies.put((action, reply))
