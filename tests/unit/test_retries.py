"""One retry policy: `max_attempts` N is N requests, on every path; one error wording.

Against a real HTTP server that answers every request 503 SlowDown (tests/stubserver.py),
each logical request must reach it exactly N times, whichever client sends it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bucketsync
from bucketsync.location import parse_s3_url
from bucketsync.stores.s3 import ClientSettings, Connection, S3Store
from s3servers import free_port
from stubserver import Counts, always_failing

CRC = "AAAAAAAAAAA="
URL = "s3://bkt/p/"
PATHS: dict[str, Callable[[S3Store], Any]] = {
    "list": lambda s: list(s.objects()),
    "head": lambda s: s.head("p/k"),
    "get": lambda s: s.get("p/k", "etag"),  # size unknown: botocore
    "put": lambda s: s.put("p/k", b"x", CRC, {}),  # small: awscrt, unless disabled
    "small get": lambda s: s.get("p/k", "etag", size=1),  # awscrt, unless disabled
}


@pytest.fixture(scope="module")
def failing() -> Iterator[tuple[str, Counts]]:
    with always_failing() as served:
        yield served


def _store(endpoint: str, attempts: int) -> S3Store:
    settings = ClientSettings(endpoint_url=endpoint, max_attempts=attempts, connect_timeout=5)
    return S3Store(Connection(settings), parse_s3_url(URL))


@pytest.mark.parametrize("crt", [True, False], ids=["awscrt", "botocore"])
@pytest.mark.parametrize("attempts", [1, 3])
@pytest.mark.parametrize("path", list(PATHS))
def test_each_request_is_sent_max_attempts_times(
    failing: tuple[str, Counts], path: str, attempts: int, crt: bool, monkeypatch: Any
) -> None:
    endpoint, counts = failing
    if not crt:
        monkeypatch.setenv("BUCKETSYNC_NO_CRT", "1")
    counts.clear()
    with pytest.raises(bucketsync.errors.TransferError):
        PATHS[path](_store(endpoint, attempts))
    assert sum(counts.kinds.values()) == attempts, counts.kinds


@pytest.mark.parametrize("attempts", [1, 3])
def test_mirror_path_sends_max_attempts_gets(
    failing: tuple[str, Counts], attempts: int, tmp_path: Path
) -> None:
    endpoint, counts = failing
    counts.clear()
    mirror = bucketsync.Mirror(URL, tmp_path, endpoint_url=endpoint, max_attempts=attempts)
    with pytest.raises(bucketsync.errors.TransferError):
        mirror.path("k")
    assert dict(counts.kinds) == {"get": attempts}


def _failure(call: Callable[[], object]) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(bucketsync.errors.EndpointError) as caught:
        call()
    return str(caught.value), time.monotonic() - started


def test_a_refused_connection_reads_the_same_from_sync_and_fetch(tmp_path: Path) -> None:
    """Refused, not 'timed out'; soon, not after the 10 s connect timeout (was 6 s).

    The times exclude making the clients (a second call of each), which a busy machine
    can stretch."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    options = {"endpoint_url": endpoint, "offline": "error"}
    listings = [_failure(lambda: bucketsync.sync(URL, tmp_path, endpoint_url=endpoint))]
    fetches = [_failure(lambda: bucketsync.fetch(URL + "k", **options)) for _ in range(2)]
    expected = f"cannot reach the S3 endpoint {endpoint}: the connection was refused"
    assert {message for message, _ in [*listings, *fetches]} == {expected}
    assert listings[0][1] < 3.0 and fetches[1][1] < 2.0, (listings, fetches)


def test_a_refused_connection_reads_the_same_from_awscrt(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    message, took = _failure(lambda: PATHS["small get"](_store(endpoint, 5)))
    assert message == f"cannot reach the S3 endpoint {endpoint}: the connection was refused"
    assert took < 3.0


def test_an_unknown_host_is_not_retried() -> None:
    message, _ = _failure(lambda: PATHS["list"](_store("http://no-such-host.invalid", 5)))
    assert message.endswith("the host name could not be resolved"), message


def test_a_tls_failure_reads_the_same_everywhere_and_is_not_retried(
    failing: tuple[str, Counts],
) -> None:
    """https:// to a plain-HTTP server: the handshake fails, once, on each path."""
    endpoint, counts = failing
    tls = endpoint.replace("http://", "https://")
    messages = set()
    for path in ("list", "head"):
        counts.clear()
        message, _ = _failure(lambda path=path: PATHS[path](_store(tls, 3)))
        messages.add(message)
        assert sum(counts.kinds.values()) == 0  # no HTTP request got through
    assert messages == {f"cannot reach the S3 endpoint {tls}: the TLS handshake failed"}
