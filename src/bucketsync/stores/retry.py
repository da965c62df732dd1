"""One retry policy for every request, whichever client sends it.

`--max-attempts N` means at most N requests for one logical request (a listing page,
a HEAD, a GET, a PUT, a part): botocore's client, the listing's urllib3 pool, awscrt's
client and the notebook path all follow the `RetryPolicy` made from the settings.
A request is tried again only when another try can help: the server answered 5xx or
throttled, or the connection was refused, reset or timed out; never after a DNS or TLS
failure, or a 4xx. Whole-file retries above (a body cut short, a checksum mismatch, a
file changed while read) send new requests, each with its own N; a request that used
up its N tries is never sent again by them.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

log = logging.getLogger("bucketsync.requests")
# A library's logger: silent until the application (or `--debug`) configures logging.
logging.getLogger("bucketsync").addHandler(logging.NullHandler())

Failure = Literal["refused", "timeout", "stalled", "reset", "dns", "tls", "server", "other"]
_RETRIED = frozenset({"refused", "timeout", "stalled", "reset", "server"})
_CONNECTING = frozenset({"refused", "reset"})
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRIED_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries a request gets, and how long to wait between them.

    A server's error (5xx, throttling) waits `backoff` seconds before the first retry,
    doubling up to `max_backoff`; a refused or reset connection waits `connect_backoff`,
    doubling (a server that is not there is known soon). Each wait is jittered down
    to half of it, so clients that failed together do not retry together.
    """

    attempts: int = 5  # tries in all, the first one included
    backoff: float = 0.2
    connect_backoff: float = 0.05
    max_backoff: float = 20.0

    def pause(self, attempt: int, failure: Failure) -> float | None:
        """Seconds to wait before another try, after try `attempt` failed; None: give up."""
        if attempt >= self.attempts or failure not in _RETRIED:
            return None
        base = self.connect_backoff if failure in _CONNECTING else self.backoff
        return min(self.max_backoff, base * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def status_failure(status: int, code: str = "") -> Failure | None:
    """The failure a server's answer is, if another try may help; None otherwise."""
    if status in RETRIED_STATUSES or code in _RETRIED_CODES:
        return "server"
    return None


def retried(attempt: int, delay: float | None, kind: str, key: str, why: str) -> None:
    """Log a failed try: a retry at INFO, the last try at WARNING."""
    if delay is None:
        log.warning("%s %s: %s (try %d), giving up", kind, key, why, attempt)
    else:
        log.info("%s %s: %s (try %d), retrying in %.2f s", kind, key, why, attempt, delay)


class BotocoreRetries:
    """botocore's `needs-retry` handler, in place of its own: the policy decides.

    It also logs every request's outcome at DEBUG: kind, key (the URL path, never
    its query or headers) and status or failure, with the try's number.
    """

    def __init__(self, policy: RetryPolicy, gate: Any = None) -> None:
        self.policy = policy
        self.gate = gate  # a window.BotocoreGate, told each answer (or None)

    def __call__(
        self,
        attempts: int,
        response: Any,
        caught_exception: BaseException | None,
        request_dict: dict[str, Any],
        operation: Any = None,
        **_: Any,
    ) -> float | None:
        from .errors import failure_of  # errors imports this module

        kind = getattr(operation, "name", "request")
        key = urlsplit(str(request_dict.get("url_path", ""))).path
        if caught_exception is not None:
            failure: Failure | None = failure_of(caught_exception)
            why = failure or type(caught_exception).__name__
            log.debug("%s %s -> %s (try %d)", kind, key, why, attempts)
        else:
            status = response[0].status_code
            code = str((response[1] or {}).get("Error", {}).get("Code", ""))
            log.debug("%s %s -> %d (try %d)", kind, key, status, attempts)
            failure, why = status_failure(status, code), f"HTTP {status} {code}".strip()
        if self.gate is not None:
            self.gate.answered(failure)
        if failure is None:
            return None
        delay = self.policy.pause(attempts, failure)
        retried(attempts, delay, kind, key, why)
        return delay


def install(client: Any, policy: RetryPolicy, gate: Any = None) -> None:
    """Make a botocore S3 client retry by `policy` instead of by its own rules, and send
    its requests through `gate` (a window.BotocoreGate), if given."""
    events = client.meta.events
    events.unregister("needs-retry.s3", unique_id="retry-config-s3")
    retries = BotocoreRetries(policy, gate)
    events.register("needs-retry.s3", retries, unique_id="bucketsync-retries")
    if gate is not None:
        events.register("before-send.s3", gate.before_send, unique_id="bucketsync-window")
