"""Carry out a plan: parallel, verified, atomic transfers, then deletes.

Downloads go to a temporary file next to their final path, are checked against
the object's checksum or ETag, and only then renamed into place. Uploads carry
their CRC64NVME, which the server checks, and are conditional on the object
being as listed (If-Match / If-None-Match) so a concurrent writer is not lost.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    Executor,
    Future,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import errors
from .cancel import GRACE, POLL, pool
from .entries import LocalFile, Record, RemoteObject
from .hashing import (
    Hasher,
    crc64_text,
    crc64nvme,
)
from .job import Job
from .multipart import conditional, multipart_put
from .pipeline import Send, Sent, pipeline
from .plan import Action, Plan, Problem, Side
from .progress import Progress
from .ranged import CHUNK, expected, ranged_get, reading_body, verify
from .resume import Partial, partial_temp
from .state import is_racy, make_record
from .stores.crt import SMALL_OBJECT, Reply
from .stores.errors import worth_resending
from .stores.local import (
    Temp,
    local_file,
    open_regular,
    prepare_parent,
    remove_below,
    target_path,
    temp_file,
    write_all,
)
from .stores.s3 import put_etag, remote_facts
from .stores.window import Window

MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
MAX_PARTS = 10_000
ATTEMPTS = 3
RETRYABLE = (
    errors.ChecksumMismatch,
    errors.LocalChanged,
    errors.TransferError,
    errors.EndpointError,
)
STRIKES = 2  # files that found the endpoint dead before the rest are not tried
T = TypeVar("T")


@dataclass
class Outcome:
    """What executing a plan did."""

    done: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)


def execute(job: Job, plan: Plan, progress: Progress, outcome: Outcome | None = None) -> Outcome:
    """Carry out the plan, adding to `outcome` as transfers finish: after an interrupt
    (KeyboardInterrupt, see cancel.py) it holds what finished, for the caller to record."""
    outcome = outcome if outcome is not None else Outcome()
    with job.cancel.deferred():
        _execute(job, plan, progress, outcome)
    return outcome


def _execute(job: Job, plan: Plan, progress: Progress, outcome: Outcome) -> None:
    """Deletes that clear a move's way first, then the moves, then the other deletes."""
    _clear_the_way(job, [a for a in plan.actions if a.clears is not None], outcome)
    moves = [a for a in plan.actions if a.action != "delete"]
    written: dict[str, Written] = {}  # uploads the pipeline made, for their retries
    moves = _pipelined(job, moves, progress, outcome, written)
    job.cancel.raise_if_set()
    jobs = job.options.jobs
    breaker = Breaker()
    running: dict[Future[Record | None], Action] = {}
    with (
        pool(
            job.cancel, jobs, "bucketsync-file", functools.partial(_wind_down, outcome, running)
        ) as files,
        pool(job.cancel, jobs, "bucketsync-part") as parts,
    ):
        for action in moves:  # a bounded window: a million files are not a million futures
            if len(running) >= jobs * 4:
                _settle(job, outcome, running, progress, FIRST_COMPLETED)
            retry = written.get(action.path)
            future = files.submit(_with_retries, job, action, parts, progress, breaker, retry)
            running[future] = action
        _settle(job, outcome, running, progress, ALL_COMPLETED)
    job.cancel.raise_if_set()
    deletes = [a for a in plan.actions if a.action == "delete" and a.clears is None]
    if breaker.tripped and job.push:
        outcome.problems.extend(Problem(a.path, breaker.message(), "remote") for a in deletes)
    else:
        _delete(job, deletes, outcome)


def _pipelined(
    job: Job,
    moves: list[Action],
    progress: Progress,
    outcome: Outcome,
    written: dict[str, Written],
) -> list[Action]:
    """Small transfers on awscrt's pipeline; return the moves left over for the threaded
    path. An upload that reached the server but must be sent again (the file changed
    meanwhile) leaves the ETag it wrote in `written`, for the retry's condition."""
    kind = "upload" if job.push else "download"
    small: list[Action] = []
    left: list[Action] = []
    for move in moves:
        (small if move.action == kind and _is_small(job, move) else left).append(move)
    if not small or not job.store.can_send():
        return moves

    def landed(action: Action, record: Record) -> None:
        outcome.done[kind] += 1
        outcome.records.append(record)
        progress.file_done()

    timeout = job.options.connect_timeout + job.options.read_timeout
    sender = _sender(job, progress, written)
    window = Window(job.options.jobs * 4, name="pipeline")
    return [*left, *pipeline(small, sender, landed, window, timeout, job.cancel)]


def _is_small(job: Job, action: Action) -> bool:
    side = action.local if job.push else action.remote
    return side is not None and side.size <= min(SMALL_OBJECT, MULTIPART_THRESHOLD)


def _sender(job: Job, progress: Progress, written: dict[str, Written]) -> Send:
    def get(action: Action, when_done: Callable[[Reply], None]) -> Sent:
        remote = action.remote
        assert remote is not None
        reply = job.store.send_small_get(remote.key, remote.etag, when_done)
        return Sent(
            reply,
            lambda: receive(job, action.path, remote, reply.response(), progress, action.local),
        )

    def put(action: Action, when_done: Callable[[Reply], None]) -> Sent:
        path = target_path(job.root, action.path)
        read = _read_for_upload(job, action, path, local_file(action.path, os.stat(path)))
        condition = _condition(action.remote.etag if action.remote else None)
        reply = job.store.send_small_put(read.key, read.data, read.crc, condition, when_done)

        def finish() -> Record:
            etag = put_etag(reply.response())
            try:
                record = _uploaded(job, action, read, etag)
            except errors.LocalChanged:
                written[action.path] = Written(etag)  # its retry replaces what this wrote
                raise
            progress.advance(read.local.size)
            return record

        return Sent(reply, finish)

    return put if job.push else get


def _settle(
    job: Job,
    outcome: Outcome,
    running: dict[Future[Record | None], Action],
    progress: Progress,
    until: str,
) -> None:
    """Wait for some (or all) running transfers and collect their results; in short
    waits, so that an interrupt is seen at once."""
    while running:
        job.cancel.raise_if_set()
        done, _ = wait(running, timeout=POLL, return_when=FIRST_COMPLETED)
        for future in done:
            _collect(outcome, running.pop(future), future.result)
            progress.file_done()
        if done and until == FIRST_COMPLETED:
            return


def _wind_down(outcome: Outcome, running: dict[Future[Record | None], Action]) -> None:
    """After an interrupt: drop the transfers not started, give the running ones GRACE
    seconds to stop, and keep those that finished meanwhile."""
    started = [future for future in running if not future.cancel()]
    done, _ = wait(started, timeout=GRACE)  # (a cancelled future never counts as done)
    for future in done:
        if future.exception() is None:
            _collect(outcome, running.pop(future), future.result)


class Breaker:
    """Stops a sync's remaining transfers once the endpoint has stopped answering.

    Below, botocore and awscrt already retried each request within the configured
    timeouts and attempts; an EndpointError means that budget ran out. After
    STRIKES files met one, the files not yet started are reported, not tried, so
    a dead or stalled server fails the sync in about one request's time budget.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._strikes = 0
        self._first = ""

    def strike(self, error: errors.EndpointError) -> None:
        with self._lock:
            self._strikes += 1
            self._first = self._first or str(error)

    @property
    def tripped(self) -> bool:
        return self._strikes >= STRIKES

    def message(self) -> str:
        return f"not tried: the S3 endpoint stopped answering ({self._first})"


def _collect(outcome: Outcome, action: Action, result: Callable[[], Record | None]) -> None:
    try:
        record = result()
    except errors.BucketsyncError as e:
        outcome.problems.append(Problem(action.path, str(e), errors.side_of(e)))
        return
    except OSError as e:
        outcome.problems.append(Problem(action.path, f"{e.strerror or e}"))
        return
    outcome.done[action.action] += 1
    if record is not None:
        outcome.records.append(record)


def _with_retries(
    job: Job,
    action: Action,
    parts: Executor,
    progress: Progress,
    breaker: Breaker | None = None,
    written: Written | None = None,
) -> Record | None:
    breaker = breaker or Breaker()
    written = written or Written(action.remote.etag if action.remote else None)
    for attempt in range(1, ATTEMPTS + 1):
        job.cancel.check()
        if breaker.tripped:
            raise errors.EndpointError(breaker.message())
        try:
            if action.action == "upload":
                return _upload(job, action, parts, progress, written)
            return _download(job, action, parts, progress)
        except RETRYABLE as e:
            if isinstance(e, errors.EndpointError):
                breaker.strike(e)
            if attempt == ATTEMPTS or breaker.tripped or not worth_resending(e):
                raise
            job.cancel.sleep(0.2 * 2**attempt)
    return None


def transfer_one(job: Job, action: Action, progress: Progress) -> Record | None:
    """Carry out one upload or download outside a plan, with the same retries. (An
    interrupt reaches it as KeyboardInterrupt: `cancel.each` stops the file's lanes or parts.)"""
    with ThreadPoolExecutor(job.options.jobs, thread_name_prefix="bucketsync-part") as parts:
        return _with_retries(job, action, parts, progress)


# --- downloads ---------------------------------------------------------------------------


def receive(
    job: Job,
    rel: str,
    remote: RemoteObject,
    response: Any,
    progress: Progress,
    walked: LocalFile | None = None,
) -> Record:
    """Land the body of a whole-object GET already sent (as `remote`) at rel, verified."""
    return _land(
        job, rel, remote, lambda temp: _receive(job, remote, response, temp, progress), walked
    )


def _download(job: Job, action: Action, parts: Executor, progress: Progress) -> Record:
    remote = action.remote
    assert remote is not None

    if remote.size <= MULTIPART_THRESHOLD:
        fill = functools.partial(_single_get, job, remote, progress=progress)
        return _land(job, action.path, remote, fill, action.local)
    kept: list[Partial] = []

    @contextlib.contextmanager
    def partial(final: Path) -> Iterator[Temp]:
        with partial_temp(job, action.path, final, remote.etag, remote.size) as found:
            kept.append(found)
            yield found.temp

    def ranged(temp: Temp) -> dict[str, str]:
        return ranged_get(job, remote, kept[0], parts, progress, PART_SIZE)

    return _land(job, action.path, remote, ranged, action.local, partial, lambda: kept[0].reused)


def _land(
    job: Job,
    rel: str,
    remote: RemoteObject,
    fill: Callable[[Temp], dict[str, str]],
    walked: LocalFile | None = None,
    opener: Callable[[Path], contextlib.AbstractContextManager[Temp]] = temp_file,
    reused: Callable[[], int] = lambda: 0,
) -> Record:
    """Fill a temporary file (from `opener`), then rename it over rel: readers never see
    a torn file. With `job.keep_local_edits`, only while rel is still as walked (`walked`;
    None: absent). `reused`: the bytes an earlier run had already written to it."""
    final = target_path(job.root, rel)
    prepare_parent(
        job.root, final, replace_links=job.options.follow_symlinks, ready=job.folders_ready
    )
    mtime = remote.last_modified_ns or time.time_ns()
    with opener(final) as temp:
        digests = fill(temp)
        os.utime(temp.fd if os.utime in os.supports_fd else temp.path, ns=(time.time_ns(), mtime))
        if job.keep_local_edits:
            _still_as_walked(job, final, rel, walked)
        temp.replace(final)
        st = os.fstat(temp.fd)
    job.stats.transferred(remote.size - reused(), rel if reused() else None)
    # A write by someone else since the rename shows as a changed mtime: hash it next time.
    racy = st.st_mtime_ns != mtime
    return make_record(local_file(rel, st), digests, remote.etag, remote.size, racy=racy)


def _still_as_walked(job: Job, path: Path, rel: str, walked: LocalFile | None) -> None:
    """Raise PathConflict when a file was written or made at path since the walk."""
    try:
        now: LocalFile | None = local_file(
            rel, os.stat(path, follow_symlinks=job.options.follow_symlinks)
        )
    except (FileNotFoundError, NotADirectoryError):
        now = None
    if (now.fingerprint if now else None) != (walked.fingerprint if walked else None):
        raise errors.PathConflict(
            f"{rel}: changed locally during the sync; left alone (sync again)"
        )


def _single_get(job: Job, remote: RemoteObject, temp: Temp, progress: Progress) -> dict[str, str]:
    return _receive(
        job, remote, job.store.get(remote.key, remote.etag, size=remote.size), temp, progress
    )


def _receive(
    job: Job, remote: RemoteObject, response: Any, temp: Temp, progress: Progress
) -> dict[str, str]:
    check = expected(job, remote, remote_facts(response))
    hasher = Hasher({"crc64nvme", check[0]} if check else {"crc64nvme"})
    with reading_body(remote.key):
        for chunk in response["Body"].iter_chunks(CHUNK):
            job.cancel.check()
            write_all(temp.fd, chunk)
            hasher.update(chunk)
            progress.advance(len(chunk))
    if hasher.bytes != remote.size:
        raise errors.ChecksumMismatch(f"{remote.key}: received {hasher.bytes} B of {remote.size} B")
    digests = hasher.values()
    verify(job, remote, check, digests, temp.path)
    return digests


# --- uploads -----------------------------------------------------------------------------


@dataclass
class Written:
    """The object an upload may replace: as listed, then as our own last attempt left it."""

    etag: str | None


def _upload(
    job: Job, action: Action, parts: Executor, progress: Progress, written: Written | None = None
) -> Record:
    written = written or Written(action.remote.etag if action.remote else None)
    condition = _condition(written.etag)
    path = target_path(job.root, action.path)
    local = local_file(action.path, os.stat(path))
    if local.size > MULTIPART_THRESHOLD:
        read_at, key = time.time_ns(), job.store.location.key(action.path)
        known, size = _known_crc(action, local), max(PART_SIZE, -(-local.size // MAX_PARTS))
        done = multipart_put(job, action.path, path, local, condition, parts, progress, known, size)
        read = Read(path, local, read_at, key, done.crc, reused=done.reused)
        etag = done.etag
    else:
        read = _read_for_upload(job, action, path, local)
        put = functools.partial(job.store.put, read.key, read.data, read.crc, condition)
        etag = conditional(job, read.key, read.crc, put)
        progress.advance(read.local.size)
    written.etag = etag  # a retry replaces what this attempt wrote, not what was listed
    return _uploaded(job, action, read, etag)


@dataclass
class Read:
    """A file as an upload read it: the version sent, and the CRC64NVME of what was sent."""

    path: Path
    local: LocalFile
    read_at: int
    key: str
    crc: str
    data: bytes = b""
    reused: int = 0  # bytes an earlier run had sent (a resumed upload)


def _read_for_upload(job: Job, action: Action, path: Path, local: LocalFile) -> Read:
    """Read a small file (as `local` was stat'ed) whole for one PUT, with its CRC64NVME."""
    read_at = time.time_ns()
    with open(open_regular(path, follow_symlinks=job.options.follow_symlinks), "rb") as f:
        data = f.read()
    if len(data) != local.size:
        raise errors.LocalChanged(f"{path}: changed while it was being read")
    crc = crc64_text(crc64nvme(data))
    if _known_crc(action, local) is None:
        job.stats.hashed(len(data))  # the file's first hash; a known one was counted then
    return Read(path, local, read_at, job.store.location.key(action.path), crc, data)


def _uploaded(job: Job, action: Action, read: Read, etag: str) -> Record:
    """The record of a finished upload, if the file did not change meanwhile."""
    if local_file(action.path, os.stat(read.path)).fingerprint != read.local.fingerprint:
        raise errors.LocalChanged(f"{read.path}: changed while it was being uploaded")
    job.stats.transferred(read.local.size - read.reused, action.path if read.reused else None)
    digests = {"crc64nvme": read.crc}
    racy = is_racy(read.local, read.read_at)
    return make_record(read.local, digests, etag, read.local.size, racy=racy)


def _known_crc(action: Action, local: LocalFile) -> str | None:
    """The CRC64NVME the comparison already computed for this very version of the file."""
    if action.digests and action.local and action.local.fingerprint == local.fingerprint:
        return action.digests.get("crc64nvme")
    return None


def _condition(etag: str | None) -> dict[str, str]:
    """Write only over the object as listed, or only where there is none."""
    return {"IfMatch": f'"{etag}"'} if etag is not None else {"IfNoneMatch": "*"}


# --- deletes -----------------------------------------------------------------------------


def _delete(job: Job, actions: list[Action], outcome: Outcome) -> None:
    if not actions:
        return
    if job.push:
        keys = {job.store.location.key(a.path): a.path for a in actions}
        failed = job.store.delete(keys)
        for key, rel in keys.items():
            _deleted(outcome, rel, failed.get(key), "remote")
        return
    for action in actions:
        try:
            if job.keep_local_edits:
                _still_as_walked(job, target_path(job.root, action.path), action.path, action.local)
            remove_below(job.root, action.path)
            _deleted(outcome, action.path, None)
        except FileNotFoundError:
            _deleted(outcome, action.path, None)
        except errors.PathConflict as e:
            outcome.problems.append(Problem(action.path, str(e), "local"))
        except OSError as e:
            _deleted(outcome, action.path, e.strerror or str(e))


def _clear_the_way(job: Job, actions: list[Action], outcome: Outcome) -> None:
    """Delete what stands where a move needs a folder or a file, and on a pull the
    folders those deletes emptied (a folder holding anything else stays, and its
    move fails)."""
    _delete(job, actions, outcome)
    if job.push:
        return
    emptied = {
        folder
        for a in actions
        if a.clears is not None and a.path.startswith(a.clears + "/")
        for folder in _folders_between(a.path, a.clears)
    }
    for rel in sorted(emptied, reverse=True):  # a folder sorts after its parent: inner first
        with contextlib.suppress(OSError):
            os.rmdir(target_path(job.root, rel))


def _folders_between(rel: str, top: str) -> list[str]:
    """The folders of rel from its parent up to top: `a/b/c`, `a` -> `a/b`, `a`."""
    parts = rel.split("/")[:-1]
    depth = top.count("/") + 1
    return ["/".join(parts[:n]) for n in range(len(parts), depth - 1, -1)]


def _deleted(outcome: Outcome, rel: str, error: str | None, side: Side = "local") -> None:
    if error:
        outcome.problems.append(Problem(rel, f"cannot delete: {error}", side))
    else:
        outcome.done["delete"] += 1
        outcome.forgotten.append(rel)
