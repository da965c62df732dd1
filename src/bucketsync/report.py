"""What a sync did: counts, bytes, requests, errors; and the running totals behind them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .display import report_frame, report_html, report_summary, size
from .plan import Plan, Problem
from .stores.s3 import RequestCounter
from .text import printable


class Stats:
    """Running totals shared by the threads of one sync."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = RequestCounter()
        self.bytes_hashed = 0
        self.bytes_transferred = 0
        self.resumed: set[str] = set()  # paths whose transfer an earlier run had begun

    def hashed(self, n: int) -> None:
        with self._lock:
            self.bytes_hashed += n

    def transferred(self, n: int, resumed: str | None = None) -> None:
        """n bytes moved (this run's only); `resumed`: the path, if it was resumed."""
        with self._lock:
            self.bytes_transferred += n
            if resumed is not None:
                self.resumed.add(resumed)


@dataclass
class Report:
    """The outcome of a sync; `to_dict()` is the `--json` output."""

    plan: Plan
    dry_run: bool
    uploaded: int = 0
    downloaded: int = 0
    deleted: int = 0
    errors: list[Problem] = field(default_factory=list)
    bytes_transferred: int = 0
    bytes_hashed: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    resumed: set[str] = field(default_factory=set)  # paths whose transfer was resumed
    cluster: dict[str, int] | None = None  # run on a Dask cluster: {"workers", "ranges"}

    @property
    def failed(self) -> int:
        return len(self.errors)

    @property
    def conflicts(self) -> int:
        """Paths changed on both sides to different content (actions of kind "conflict")."""
        return self.plan.count("conflict")

    @property
    def unresolved(self) -> int:
        """Conflicts left alone (--conflict skip): a run with any exits 1."""
        return self.plan.unresolved

    @property
    def ok(self) -> bool:
        return not self.errors and not self.unresolved

    @property
    def unchanged(self) -> int:
        return self.plan.unchanged

    def to_dict(self) -> dict[str, Any]:
        summary = self._summary()
        if self.cluster is not None:
            summary["cluster"] = dict(self.cluster)
        return {
            "source": self.plan.source,
            "destination": self.plan.destination,
            "dry_run": self.dry_run,
            "actions": [
                {**a.to_dict(), "resumed": a.path in self.resumed} for a in self.plan.actions
            ],
            "summary": summary,
            "errors": [e.to_dict() for e in self.errors],
            "skipped": [n.to_dict() for n in self.plan.skipped],
        }

    def _summary(self) -> dict[str, Any]:
        return {
            "uploaded": self.uploaded,
            "downloaded": self.downloaded,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "conflicts": self.conflicts,
            "bytes_transferred": self.bytes_transferred,
            "bytes_hashed": self.bytes_hashed,
            "requests": dict(self.requests),
            "seconds": round(self.seconds, 3),
        }

    def summary_line(self) -> str:
        verb = "would move" if self.dry_run else "moved"
        parts = [
            f"{self.uploaded} uploaded",
            f"{self.downloaded} downloaded",
            f"{self.deleted} deleted",
            f"{self.unchanged} unchanged",
        ]
        if self.dry_run:
            planned = len(self.plan) - self.conflicts
            parts = [f"{planned} actions planned", f"{self.unchanged} unchanged"]
        text = ", ".join(parts)
        failed = f", {self.failed} failed" if self.failed else ""
        if self.conflicts:
            failed += f", {self.conflicts} conflict{'s' if self.conflicts != 1 else ''}"
            failed += f" ({self.unresolved} left alone)" if self.unresolved else " (resolved)"
        moved = self.plan.bytes if self.dry_run else self.bytes_transferred
        return (
            f"{text}{failed}; {verb} {size(moved)},"
            f" hashed {size(self.bytes_hashed)} in {self.seconds:.2f} s"
        )

    def summary(self) -> str:
        """One line for people: what moved or failed, human sizes, requests and time."""
        return report_summary(self)

    def to_pandas(self) -> Any:
        """One row per action (as `Plan.to_pandas()`) with its `status` and `error`.

        `status` is "done" or "failed" ("planned" in a dry run); needs pandas.
        """
        return report_frame(self)

    def _repr_html_(self) -> str:
        return report_html(self)

    def __repr__(self) -> str:
        pair = f"{printable(self.plan.source)} -> {printable(self.plan.destination)}"
        return f"<Report {pair}: {self.summary_line()}>"
