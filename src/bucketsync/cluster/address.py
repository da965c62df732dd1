"""Where a sync's ranges run: a Dask scheduler's address, `local:N`, or a `Client`.

`connected` yields a `distributed.Client` for any of them: for `local:N` it starts a
`LocalCluster` of N worker processes (one thread each) and stops it at the end; a
`Client` given by the caller is used as it is and left open. Dask is imported only
here and only when a cluster is asked for: without it, one error line says what to
install (exit 2).
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ClusterError, MissingDependency
from ..options import Check

INSTALL_HINT = "a cluster needs Dask: pip install 'bucketsync[dask]'"
MAX_LOCAL_WORKERS = 256
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler, and for it to have a worker
_SCHEDULER = re.compile(r"(tcp|tls)://[^\s/:]+:\d{1,5}")
_LOCAL = re.compile(r"local:(\d{1,4})")


class DaskMissing(MissingDependency):
    """A cluster was asked for, and Dask (`distributed`) is not installed."""

    exit_code = 2


@dataclass(frozen=True)
class Address:
    """A checked cluster address: a scheduler URL, or a number of local workers."""

    scheduler: str | None = None
    local_workers: int = 0

    def __str__(self) -> str:
        return self.scheduler or f"local:{self.local_workers}"


def _address(value: object) -> Address:
    if isinstance(value, Address):
        return value
    if not isinstance(value, str):
        raise TypeError
    local = _LOCAL.fullmatch(value)
    if local and 1 <= int(local[1]) <= MAX_LOCAL_WORKERS:
        return Address(local_workers=int(local[1]))
    if _SCHEDULER.fullmatch(value) and 0 < int(value.rsplit(":", 1)[1]) < 65536:
        return Address(scheduler=value)
    raise ValueError


CLUSTER = Check(
    "tcp://HOST:PORT (a Dask scheduler), or local:N"
    f" (N worker processes here, 1 to {MAX_LOCAL_WORKERS}), or a distributed.Client",
    _address,
)


def parse(value: object) -> Address:
    """The address in `value` (a str); UsageError, naming what is allowed, if it is not one."""
    return CLUSTER("cluster", value)


def dask() -> Any:
    """The `distributed` module; DaskMissing, with the install hint, when it is missing."""
    try:
        import distributed
    except ImportError as e:
        raise DaskMissing(INSTALL_HINT) from e
    return distributed


def is_client(value: object) -> bool:
    """Whether value is a `distributed.Client` (without importing Dask for a str)."""
    return type(value).__module__.startswith("distributed") and hasattr(value, "submit")


@contextlib.contextmanager
def connected(cluster: object) -> Iterator[Any]:
    """A Client for `cluster` (an address or a Client), with at least one worker."""
    if is_client(cluster):
        yield _with_workers(cluster, str(cluster))
        return
    address = parse(cluster)
    distributed = dask()
    if address.scheduler is None:
        opened = _local(distributed, address.local_workers)
    else:
        opened = _remote(distributed, address.scheduler)
    with opened as client:
        yield _with_workers(client, str(address))


@contextlib.contextmanager
def _local(distributed: Any, workers: int) -> Iterator[Any]:
    """A LocalCluster of `workers` processes (one thread each), stopped at the end."""
    with _shielded():
        local = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,  # a range's error is the client's to report
        )
    with local, distributed.Client(local) as client:
        yield client


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Processes started in the block ignore SIGINT (their Python keeps it ignored): a
    terminal's Ctrl-C reaches the client alone, which tells the workers to stop
    between files. A Ctrl-C while they start (a few seconds) is ignored too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@contextlib.contextmanager
def _remote(distributed: Any, scheduler: str) -> Iterator[Any]:
    """A Client of the scheduler at `scheduler`; ClusterError if none answers in time."""
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"{scheduler}: no Dask scheduler answers ({e})") from e
    with client:
        yield client


def _with_workers(client: Any, name: str) -> Any:
    """The client, once its cluster has a worker (ClusterError after CONNECT_TIMEOUT)."""
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"{name}: the Dask cluster has no worker") from e
    return client
