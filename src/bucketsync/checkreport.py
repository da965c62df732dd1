"""What `check` found: one status per path, with its reason, and the totals.

A status is one of

- ``same``: the two sides hold the same content (the reason says how it was proven);
- ``differ``: both sides hold the path, with different content;
- ``missing``: only on SRC; ``extra``: only on DST;
- ``unknown``: no way to compare without reading the remote bytes (no usable
  checksum on the object), or the path could not be read; ``--download`` settles
  the first kind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal

from .text import printable

Status = Literal["same", "differ", "missing", "extra", "unknown"]
STATUSES: tuple[Status, ...] = ("same", "differ", "missing", "extra", "unknown")
MAX_ROWS = 50  # rows of the HTML table; the rest are counted


@dataclass(frozen=True)
class PathCheck:
    """One path's status and the reason for it."""

    path: str
    status: Status
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "status": self.status, "reason": self.reason}

    def line(self) -> str:
        """`STATUS PATH (reason)`, printable on a terminal."""
        return f"{self.status:7} {printable(self.path)} ({printable(self.reason)})"


@dataclass(frozen=True)
class CheckReport:
    """The outcome of `bucketsync.check`: a status per path; `to_dict()` is `--json`.

    `ok` is True when every path is the same. The counts are attributes (`same`,
    `differ`, `missing`, `extra`, `unknown`); `paths` lists every path in order.
    `skipped` names paths neither side compares (symbolic links not followed,
    special files, keys that end with '/' and hold data), each with why.
    """

    source: str
    destination: str
    paths: tuple[PathCheck, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    downloaded: bool = False  # whether --download was given
    used_state: bool = True  # False with --no-state
    bytes_hashed: int = 0
    bytes_downloaded: int = 0
    requests: dict[str, int] = field(default_factory=dict, compare=False)
    seconds: float = field(default=0.0, compare=False)

    def count(self, status: Status) -> int:
        return sum(1 for p in self.paths if p.status == status)

    @property
    def counts(self) -> dict[str, int]:
        """The number of paths of each status, in the order of STATUSES."""
        found = Counter(p.status for p in self.paths)
        return {status: found.get(status, 0) for status in STATUSES}

    @property
    def same(self) -> int:
        return self.count("same")

    @property
    def differ(self) -> int:
        return self.count("differ")

    @property
    def missing(self) -> int:
        return self.count("missing")

    @property
    def extra(self) -> int:
        return self.count("extra")

    @property
    def unknown(self) -> int:
        return self.count("unknown")

    @property
    def ok(self) -> bool:
        """True when every path is the same on both sides."""
        return all(p.status == "same" for p in self.paths)

    @property
    def exit_code(self) -> int:
        """The command line's: 0 when all are the same, else 1."""
        return 0 if self.ok else 1

    def not_same(self) -> list[PathCheck]:
        return [p for p in self.paths if p.status != "same"]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.counts,
            "paths": [p.to_dict() for p in self.paths],
            "source": self.source,
            "destination": self.destination,
            "download": self.downloaded,
            "state": self.used_state,
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
            "bytes_hashed": self.bytes_hashed,
            "bytes_downloaded": self.bytes_downloaded,
            "requests": dict(self.requests),
            "seconds": round(self.seconds, 3),
        }

    def summary_line(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts.items())
        return (
            f"{counts}; hashed {_size(self.bytes_hashed)},"
            f" downloaded {_size(self.bytes_downloaded)} in {self.seconds:.2f} s"
        )

    def __repr__(self) -> str:
        pair = f"{printable(self.source)} -> {printable(self.destination)}"
        return f"<CheckReport {pair}: {self.summary_line()}>"

    def __str__(self) -> str:
        return "\n".join([*(p.line() for p in self.not_same()), self.summary_line()])

    def _repr_html_(self) -> str:
        title = f"Check {self.source} → {self.destination}: {self.summary_line()}"
        rows = self.not_same()
        if not rows:
            return f"<p><strong>{_cell(title)}</strong></p><p>All paths are the same.</p>"
        body = "".join(
            f"<tr><td>{_cell(p.status)}</td><td>{_cell(p.path)}</td><td>{_cell(p.reason)}</td></tr>"
            for p in rows[:MAX_ROWS]
        )
        more = f"<p>… and {len(rows) - MAX_ROWS} more</p>" if len(rows) > MAX_ROWS else ""
        head = "<tr><th>status</th><th>path</th><th>reason</th></tr>"
        return (
            f"<p><strong>{_cell(title)}</strong></p>"
            f"<table><thead>{head}</thead><tbody>{body}</tbody></table>{more}"
        )


# Public under the package's name: pickles and reprs say bucketsync.CheckReport.
CheckReport.__module__ = "bucketsync"
PathCheck.__module__ = "bucketsync"


def _cell(text: str) -> str:
    """Text for a page: control and bidi characters escaped, then HTML's own."""
    return escape(printable(text))


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
