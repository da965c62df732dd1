"""What one key range of a sync did, as plain, picklable data.

A range may run in another process (a Dask worker); its result travels back to the
process that owns the state database, which saves its records (`api.save_range`),
and results of several ranges add up to one `Report` (`report_of`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .entries import Record
from .keyrange import KeyRange
from .plan import Plan, Problem
from .report import Report

if TYPE_CHECKING:
    from .job import Job
    from .planner import Planned
    from .transfer import Outcome


@dataclass
class RangeResult:
    """A range's plan (actions, notes), what was done, its records and its counters."""

    key_range: KeyRange
    plan: Plan
    done: dict[str, int] = field(default_factory=dict)  # upload/download/delete -> count
    problems: list[Problem] = field(default_factory=list)  # failed transfers and deletes
    learned: list[Record] = field(default_factory=list)  # pairs found identical by checks
    records: list[Record] = field(default_factory=list)  # pairs made identical
    stale: list[str] = field(default_factory=list)  # rows whose pair is no more
    forgotten: list[str] = field(default_factory=list)  # rows of deleted paths
    bytes_hashed: int = 0
    bytes_transferred: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)  # paths whose transfer was resumed
    interrupted: bool = False  # stopped part-way: what finished is in it

    @classmethod
    def of(cls, job: Job, planned: Planned, outcome: Outcome) -> RangeResult:
        """The result of a job's range from its plan and what executing it did."""
        return cls(
            job.key_range,
            planned.plan,
            dict(outcome.done),
            list(outcome.problems),
            list(planned.records),
            list(outcome.records),
            list(planned.stale),
            list(outcome.forgotten),
            job.stats.bytes_hashed,
            job.stats.bytes_transferred,
            job.stats.requests.as_dict(),
            sorted(job.stats.resumed),
        )


class RangeInterrupted(KeyboardInterrupt):
    """A range stopped part-way (Ctrl-C, or told to stop); `result` holds what finished."""

    def __init__(self, result: RangeResult) -> None:
        super().__init__()
        result.interrupted = True
        self.result = result


def report_of(results: list[RangeResult], dry_run: bool) -> Report:
    """One report for ranges run one after the other (in key order)."""
    plan = Plan(results[0].plan.pair)
    report = Report(plan, dry_run=dry_run)
    for result in results:
        plan.actions.extend(result.plan.actions)
        plan.problems.extend(result.plan.problems)
        plan.warnings.extend(result.plan.warnings)
        plan.unchanged += result.plan.unchanged
        report.errors.extend([*result.plan.problems, *result.problems])
        report.uploaded += result.done.get("upload", 0)
        report.downloaded += result.done.get("download", 0)
        report.deleted += result.done.get("delete", 0)
        report.bytes_hashed += result.bytes_hashed
        report.bytes_transferred += result.bytes_transferred
        report.resumed.update(result.resumed)
        for kind, n in result.requests.items():
            report.requests[kind] = report.requests.get(kind, 0) + n
    return report
