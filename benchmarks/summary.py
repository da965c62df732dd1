"""Figures derived from the raw runs: medians, ratios, and per-run details, for the tables,
the targets and the plots. Everything here is computed from results.json alone."""

from __future__ import annotations

from typing import Any

from .measure import Spread, spread
from .results import Run, Session

BS = "bucketsync"
Table = list[list[str]]


def headline(session: Session, scenario: str, case: str) -> int | None:
    """The largest file count a case ran with."""
    counts = [f for c, f in session.cases(scenario) if c == case]
    return max(counts) if counts else None


def ok_runs(session: Session, scenario: str, case: str, tool: str, files: int | None) -> list[Run]:
    return [r for r in session.select(scenario, case, tool, files) if r.ok]


def failed(session: Session, scenario: str, case: str, tool: str, files: int | None) -> list[Run]:
    return [r for r in session.select(scenario, case, tool, files) if not r.ok]


def seconds(
    session: Session, scenario: str, case: str, tool: str, files: int | None
) -> Spread | None:
    return spread([r.seconds for r in ok_runs(session, scenario, case, tool, files)])


def speedup(
    session: Session, scenario: str, case: str, tool: str, files: int | None
) -> float | None:
    """This tool's median time over bucketsync's: above 1, bucketsync is faster."""
    mine = seconds(session, scenario, case, tool, files)
    ours = seconds(session, scenario, case, BS, files)
    if mine is None or ours is None or ours.median <= 0:
        return None
    return mine.median / ours.median


def first_run(session: Session, scenario: str, case: str, files: int | None) -> Run | None:
    runs = [r for r in session.select(scenario, case, BS, files, timed=False) if r.run < 0]
    return runs[0] if runs else None


def summaries(
    session: Session, scenario: str, case: str, files: int | None, tool: str = BS
) -> list[dict[str, Any]]:
    return [r.summary for r in ok_runs(session, scenario, case, tool, files) if r.summary]


def requests_text(summary: dict[str, Any] | None) -> str:
    if not summary:
        return ""
    requests = summary.get("requests") or {}
    parts = [f"{k} {v}" for k, v in requests.items() if v]
    return ", ".join(parts) or "none"


def size_text(n: float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def time_text(s: Spread | None) -> str:
    if s is None:
        return "n/a"
    if s.n == 1:
        return f"{s.median:.2f} s"
    return f"{s.median:.2f} s ({s.low:.2f}-{s.high:.2f})"


def ratio_text(x: float | None, tool: str = "") -> str:
    if tool == BS:
        return "-"
    return "n/a" if x is None else f"{x:.2f}x"


def table(header: list[str], rows: Table) -> list[str]:
    """A Markdown table ("|" inside a cell becomes "/")."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return out


def timing_cell(
    session: Session, scenario: str, case: str, tool: str, n: int | None, note_chars: int = 120
) -> str:
    """The time's spread, and the failed runs with the first one's note."""
    bad = failed(session, scenario, case, tool, n)
    text = time_text(seconds(session, scenario, case, tool, n))
    if bad:
        text += f" ({len(bad)} failed: {bad[0].note[:note_chars]})"
    return text


def first_run_lines(
    session: Session, scenario: str, case: str, n: int | None, label: str = ""
) -> list[str]:
    """A line on bucketsync's untimed first run (after a blank one), if it has a summary."""
    first = first_run(session, scenario, case, n)
    if first is None or not first.summary:
        return []
    return [
        "",
        f"bucketsync's untimed first run{label}: {first.seconds:.2f} s, hashed"
        f" {size_text(first.summary.get('bytes_hashed', 0))}, requests:"
        f" {requests_text(first.summary)}.",
    ]
