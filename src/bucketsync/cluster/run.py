"""A sync run as key-range tasks on a Dask cluster; the client owns the state database.

The client holds the folder's lock, checks that every worker sees the folder, cuts
the key space (cuts.py), sends each range as a task with the state rows of its
range, and saves each range's result as it arrives (one transaction per range).
Deletes that clear no way are held by the tasks and run here once every range has
listed and finished, as on one machine, where a failed listing deletes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import time
from typing import Any

from .. import api, guard
from ..cancel import GRACE
from ..errors import BucketsyncError
from ..job import Job, SyncSpec
from ..keyrange import KeyRange
from ..plan import Note, Plan, Problem, Side
from ..progress import Progress, bar_type, shown
from ..report import Report
from ..result import RangeResult, report_of
from ..transfer import Outcome, execute
from . import address, cuts, sight, task


class RangeLost(BucketsyncError):
    """A range's task failed on the cluster for a reason not a sync's (a worker lost)."""


@dataclasses.dataclass
class Ran:
    """What came back from the cluster: results by range index, failures, workers used."""

    results: dict[int, RangeResult] = dataclasses.field(default_factory=dict)
    failures: list[tuple[KeyRange, BaseException]] = dataclasses.field(default_factory=list)
    workers: set[str] = dataclasses.field(default_factory=set)

    @property
    def complete(self) -> bool:
        return not self.failures and not any(r.interrupted for r in self.results.values())


def run(spec: SyncSpec, cluster: object, *, spare_changed: bool = False) -> Report:
    """`api.run` of the spec, its key ranges carried out on the cluster."""
    if not address.is_client(cluster):
        address.parse(cluster)  # a bad address fails before anything else
    started, started_at = time.monotonic(), time.time()
    with (
        api.open_resources(spec) as job,
        address.connected(cluster) as client,
        api.exclusive(job),
    ):
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        spans = cuts.cut(job, max(1, workers))  # a pull's first request: no bucket, no folder
        _see(client, job)
        ran = _run_ranges(client, job, spans, spare_changed)
        report = _report(job, ran)
        if not job.options.dry_run:
            _deletes(job, report, ran)
            if ran.complete:
                _vouch(job, report, started_at)
        _finish(job, report, ran, started)
    if any(r.interrupted for r in ran.results.values()):
        raise KeyboardInterrupt
    return report


def _see(client: Any, job: Job) -> None:
    """Check that the workers see the local folder (a pull's is made first, unless a
    dry run; a dry run's missing folder is not checked: there is nothing to see)."""
    if job.options.dry_run:
        if job.root.is_dir():
            sight.check(client, job.root, write=False)
        return
    api.check_root(job)
    api.make_root(job)
    sight.check(client, job.root, write=True)


def _run_ranges(client: Any, job: Job, spans: list[KeyRange], spare_changed: bool) -> Ran:
    """Send every range as a task; save each result as it comes; stop on an interrupt."""
    distributed = address.dask()
    spec = _portable(job)
    stop = f"bucketsync-stop-{secrets.token_hex(8)}"
    futures = {
        client.submit(
            task.run_range,
            dataclasses.replace(spec, key_range=span),
            list(job.state.records(job.scope, span)),
            stop,
            spare_changed,
            pure=False,
            key=f"bucketsync-range-{n}-{stop[-16:]}",
        ): n
        for n, span in enumerate(spans)
    }
    ran = Ran()
    bar = RangeBar(len(spans), job.options.progress)
    try:
        for future in distributed.as_completed(futures):
            _collect(job, ran, futures[future], spans, future, bar)
    except KeyboardInterrupt:
        _stop(client, distributed, stop, futures, job, ran, spans)
    finally:
        bar.close()
    return ran


def _portable(job: Job) -> SyncSpec:
    """The job's spec as workers must run it: against the endpoint this client uses."""
    options = dataclasses.replace(job.options, endpoint_url=job.store.endpoint)
    return dataclasses.replace(job.spec, options=options, ranges=0)


def _collect(
    job: Job, ran: Ran, n: int, spans: list[KeyRange], future: Any, bar: RangeBar | None
) -> None:
    """Save a finished range's result (or note its failure)."""
    try:
        where, result = future.result()
    except Exception as e:  # the range's own error, or its task lost
        ran.failures.append((spans[n], e))
        return
    api.save_range(job, result)
    ran.results[n] = result
    ran.workers.add(where)
    if bar is not None:
        bar.done(result)


def _stop(
    client: Any,
    distributed: Any,
    stop: str,
    futures: dict[Any, int],
    job: Job,
    ran: Ran,
    spans: list[KeyRange],
) -> None:
    """After an interrupt: no new range starts; running ones stop between files and
    their results (what finished) are saved."""
    distributed.Event(stop, client=client).set()
    running = {key for keys in client.processing().values() for key in keys}
    waiting = []
    for future, n in futures.items():
        if n in ran.results or future.status in ("error", "cancelled"):
            continue
        if future.key in running or future.status == "finished":
            waiting.append(future)
        else:
            future.cancel()
    with contextlib.suppress(Exception):
        distributed.wait(waiting, timeout=GRACE + 2 * task.STOP_POLL)
    for future in waiting:
        if future.status == "finished":
            _collect(job, ran, futures[future], spans, future, None)
    if not any(r.interrupted for r in ran.results.values()):
        ran.results.setdefault(-1, _nothing(job)).interrupted = True


def _nothing(job: Job) -> RangeResult:
    """An empty result: an interrupt that stopped no running range still interrupts."""
    return RangeResult(job.key_range, Plan(job.pair))


def _report(job: Job, ran: Ran) -> Report:
    """The ranges' results as one report, in key order; a failed range is an error."""
    results = [ran.results[n] for n in sorted(ran.results)]
    if not results and ran.failures:
        span, error = ran.failures[0]
        if isinstance(error, BucketsyncError):
            raise error
        raise RangeLost(f"key range {span}: {error}") from error
    report = report_of(results or [_nothing(job)], job.options.dry_run)
    for span, error in ran.failures:
        report.errors.append(Problem("", f"key range {_shown(span)} failed: {error}", "remote"))
    return report


def _deletes(job: Job, report: Report, ran: Ran) -> None:
    """Run the held deletes, once every range listed and finished (else none)."""
    plan = report.plan
    if not ran.complete:
        held = [a for a in plan.actions if a.action == "delete" and not a.clears]
        plan.actions = [a for a in plan.actions if a not in held]
        side: Side = "remote" if job.push else "local"
        reason = "not deleted: a key range did not finish"
        plan.warnings.extend(Note(a.path, reason, side) for a in held)
        return
    known = len(plan.problems)
    guard.withhold_deletes(plan, job.options.max_delete, {})
    report.errors.extend(plan.problems[known:])
    deletes = [a for a in plan.actions if a.action == "delete" and not a.clears]
    if not deletes:
        return
    outcome = Outcome()
    try:
        execute(job, dataclasses.replace(plan, actions=deletes), Progress(0, 0, False), outcome)
    finally:
        job.state.forget(job.scope, outcome.forgotten)
        report.deleted += outcome.done["delete"]
        report.errors.extend(outcome.problems)


def _vouch(job: Job, report: Report, started: float) -> None:
    """A complete sync vouches for every pair left recorded (as `api.run_job` does; the
    ranges' stale rows are gone already)."""
    options = job.options
    if options.filters or options.compare != "content":
        return
    job.state.forget(job.scope, [e.path for e in report.errors])
    job.state.stamp(job.scope, started)


def _finish(job: Job, report: Report, ran: Ran, started: float) -> None:
    """Add the client's own requests (cutting, deletes) and the cluster's figures."""
    for kind, n in job.stats.requests.as_dict().items():
        report.requests[kind] = report.requests.get(kind, 0) + n
    report.bytes_hashed += job.stats.bytes_hashed
    report.bytes_transferred += job.stats.bytes_transferred
    report.seconds = time.monotonic() - started
    ranges = len([n for n in ran.results if n >= 0]) + len(ran.failures)
    report.cluster = {"workers": len(ran.workers), "ranges": ranges}


def _shown(span: KeyRange) -> str:
    return f"({span.lo or ''!r}, {span.hi or ''!r}]"


RANGE_BAR_FORMAT = "{desc}: {done} [{elapsed}, {speed}{postfix}]"  # sizes in binary units


class RangeBar:
    """The client's progress bar: bytes and files moved, fed range by range."""

    def __init__(self, ranges: int, enabled: bool | None) -> None:
        self._bar: Any = None
        self._ranges, self._done, self._files = ranges, 0, 0
        if shown(enabled) and ranges:
            self._bar = bar_type()(
                total=None, unit="B", desc="bucketsync", bar_format=RANGE_BAR_FORMAT
            )

    def done(self, result: RangeResult) -> None:
        if self._bar is None:
            return
        self._done += 1
        self._files += sum(result.done.values())
        self._bar.update(result.bytes_transferred)
        self._bar.set_postfix_str(f"{self._files} files, {self._done}/{self._ranges} ranges")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
