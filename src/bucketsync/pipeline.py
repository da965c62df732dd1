"""Many small transfers on awscrt without a thread per file.

Requests go out from one thread, a window at a time, and each file is finished
(written and renamed into place, or its upload recorded) on that thread as its reply
comes back, so a file costs no thread hand-offs beyond awscrt's own. Finishing files
on other threads (3 finishers, or awscrt's callback thread) was measured slower on a
10,000-file pull: the work per file is Python and short system calls under one GIL,
and more threads only add hand-offs of it. A file that fails is handed back to the
caller, whose threaded path has the retries; so is everything after the endpoint
stops answering.
"""

from __future__ import annotations

import functools
import queue
from collections.abc import Callable
from dataclasses import dataclass

from . import errors
from .entries import Record
from .plan import Action
from .stores.crt import Reply


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
    window: int,
    timeout: float,
) -> list[Action]:
    """Send and finish every action, reporting each finished file to `landed`; return
    the actions left over: failed, not sent, or cut off by a stalled endpoint."""
    replies: Replies = queue.SimpleQueue()
    flying: dict[Reply, tuple[Action, Callable[[], Record]]] = {}
    left: list[Action] = []
    waiting = iter(actions)
    sending = True
    while True:
        while sending and len(flying) < window:
            action = next(waiting, None)
            if action is None:
                break
            try:
                sent = send(action, functools.partial(_deliver, replies, action))
            except (errors.BucketsyncError, OSError):
                left.append(action)
                continue
            flying[sent.reply] = (action, sent.finish)
        if not flying:
            break
        try:
            action, reply = replies.get(timeout=timeout)
        except queue.Empty:  # stalled: cancel, and let the threaded path decide
            for reply in flying:
                reply.cancel()
            left.extend(action for action, _ in flying.values())
            break
        try:
            record = flying.pop(reply)[1]()
        except (errors.BucketsyncError, OSError) as e:
            left.append(action)
            sending = sending and not isinstance(e, errors.EndpointError)
            continue
        landed(action, record)
    return [*left, *waiting]


def _deliver(replies: Replies, action: Action, reply: Reply) -> None:
    replies.put((action, reply))
