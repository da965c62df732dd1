"""Plans and reports as HTML (Jupyter's `_repr_html_`) and as pandas DataFrames.

A report reads as one summary line (human sizes, the requests sent), then small
tables only for what matters: failures first, with a caption and in red, then the
actions, then what was skipped on purpose. A table longer than `MAX_ROWS` shows its
head and tail, as pandas does.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from .errors import MissingDependency
from .text import printable

if TYPE_CHECKING:
    from .plan import Action, ActionKind, Plan, Problem
    from .report import Report

MAX_ROWS = 50  # a longer table shows only its head and tail
HEAD = TAIL = 10
COLUMNS = ("action", "path", "reason", "bytes")
REPORT_COLUMNS = (*COLUMNS, "status", "error")
KINDS: tuple[ActionKind, ...] = ("upload", "download", "delete")
FAILED = "color:#b00020"  # failures stand out: a caption, a cell, a row
RIGHT = "text-align:right"
TABLE = "margin-left:0"  # Jupyter centres tables; these read as a list under the line


def size(n: float) -> str:
    """Bytes in binary units, as a person writes them: 63 B, 1.5 KiB, 30.0 MiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def requests_text(requests: Mapping[str, int]) -> str:
    """'3 requests (1 list, 2 get)': the total, then each kind sent at least once."""
    total = sum(requests.values())
    if not total:
        return "no requests"
    kinds = ", ".join(f"{n} {kind}" for kind, n in requests.items() if n)
    return f"{_plural(total, 'request')} ({kinds})"


# --- Plan --------------------------------------------------------------------------------------


def plan_html(plan: Plan) -> str:
    line = f"{_pair('Plan', plan.source, plan.destination)}: {_plan_counts(plan)}"
    return _block(
        f"<p>{line}</p>"
        + _problems(plan.problems, f"{_plural(len(plan.problems), 'error')}: left alone")
        + _actions(plan.actions, failed={}, status=False)
        + _skipped(plan)
    )


def _plan_counts(plan: Plan) -> str:
    moves = [f"{plan.count(kind)} {kind}" for kind in KINDS if plan.count(kind)]
    if not moves:
        return escape(f"nothing to move, {plan.unchanged} unchanged")
    moving = f"; {size(plan.bytes)} to move" if plan.bytes else ""
    return escape(f"{', '.join(moves)}{moving}; {plan.unchanged} unchanged")


# --- Report ------------------------------------------------------------------------------------


def report_html(report: Report) -> str:
    title = "Report (dry run)" if report.dry_run else "Report"
    plan = report.plan
    line = f"{_pair(title, plan.source, plan.destination)}: {report_summary(report, html=True)}"
    failed = {e.path: e.error for e in report.errors}
    return _block(
        f"<p>{line}</p>"
        + _problems(report.errors, f"{report.failed} failed")
        + _actions(plan.actions, failed=failed, status=not report.dry_run)
        + _skipped(plan)
    )


def report_summary(report: Report, *, html: bool = False) -> str:
    """One line: what moved, what failed, sizes, time and requests.

    'nothing to move, 5 unchanged; 1 request (1 list) in 0.01 s', or '2 downloaded,
    3 unchanged, 1 failed; moved 30.0 MiB; 4 requests (1 list, 3 get) in 1.20 s'.
    With `html`, the failures are marked to stand out.
    """
    if report.dry_run:
        moves = [f"{n} to {kind}" for kind in KINDS if (n := report.plan.count(kind))]
    else:
        done = (("uploaded", report.uploaded), ("downloaded", report.downloaded))
        moves = [f"{n} {verb}" for verb, n in (*done, ("deleted", report.deleted)) if n]
    counts = [", ".join(moves or ["nothing to move"]) + f", {report.unchanged} unchanged"]
    if report.failed:
        failed = f"{report.failed} failed"
        counts.append(f'<strong style="{FAILED}">{failed}</strong>' if html else failed)
    moved = report.plan.bytes if report.dry_run else report.bytes_transferred
    work = []
    if moved:
        work.append(f"{'would move' if report.dry_run else 'moved'} {size(moved)}")
    if report.bytes_hashed:
        work.append(f"hashed {size(report.bytes_hashed)}")
    sent = f"{requests_text(report.requests)} in {report.seconds:.2f} s"
    return "; ".join([", ".join(counts), *([", ".join(work)] if work else []), sent])


# --- pandas ------------------------------------------------------------------------------------


def plan_frame(plan: Plan) -> Any:
    """The plan's actions as a pandas DataFrame, one row per file."""
    return _pandas().DataFrame([a.to_dict() for a in plan.actions], columns=list(COLUMNS))


def report_frame(report: Report) -> Any:
    """The report's actions as a pandas DataFrame, one row per file, with its outcome.

    `status` is "planned" in a dry run, else "failed" (with the `error`) or "done".
    """
    failed = {e.path: e.error for e in report.errors}
    rows = []
    for action in report.plan.actions:
        error = failed.get(action.path)
        status = "planned" if report.dry_run else "failed" if error is not None else "done"
        rows.append({**action.to_dict(), "status": status, "error": error})
    return _pandas().DataFrame(rows, columns=list(REPORT_COLUMNS))


def _pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError as e:
        raise MissingDependency("to_pandas() needs pandas: pip install pandas") from e


# --- tables ------------------------------------------------------------------------------------


def _block(body: str) -> str:
    return f'<div class="bucketsync">{body}</div>'


def _pair(title: str, source: str, destination: str) -> str:
    return f"<strong>{escape(title)}</strong> {_cell(source)} → {_cell(destination)}"


def _actions(actions: Sequence[Action], failed: Mapping[str, str], *, status: bool) -> str:
    if not actions:
        return ""
    header = ("action", "path", "reason", "size", *(("status",) if status else ()))

    def row(a: Action) -> str:
        bad = a.path in failed
        cells = [_td(a.action), _td(a.path), _td(a.reason), _size_td(a.bytes)]
        if status:
            cells.append(_td("failed", FAILED) if bad else _td("done"))
        return _tr(cells, FAILED if bad else "")

    caption = _plural(len(actions), "action")
    return _table(caption, header, [row(a) for a in _cut(actions)], len(actions))


def _problems(problems: Sequence[Problem], caption: str) -> str:
    if not problems:
        return ""
    rows = [_tr([_td(p.path), _td(p.error)], FAILED) for p in _cut(problems)]
    return _table(caption, ("path", "error"), rows, len(problems), FAILED)


def _skipped(plan: Plan) -> str:
    notes = plan.skipped
    if not notes:
        return ""
    rows = [_tr([_td(n.path), _td(n.reason)]) for n in _cut(notes)]
    caption = f"{len(notes)} skipped on purpose"
    return _table(caption, ("path", "reason"), rows, len(notes))


def _cut(items: Sequence[Any]) -> list[Any]:
    """All items, or the head and the tail of a long list (a gap marked between them)."""
    if len(items) <= MAX_ROWS:
        return list(items)
    return [*items[:HEAD], *items[-TAIL:]]


def _table(
    caption: str, header: Sequence[str], rows: list[str], total: int, style: str = ""
) -> str:
    if total > MAX_ROWS:
        gap = f'<tr><td colspan="{len(header)}">… {total - HEAD - TAIL} more …</td></tr>'
        rows = [*rows[:HEAD], gap, *rows[HEAD:]]
    cap_style = f"text-align:left;font-weight:bold;{style}"
    head = "".join(f"<th>{_cell(h)}</th>" for h in header)
    return (
        f'<table style="{TABLE}"><caption style="{cap_style}">{_cell(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _tr(cells: Iterable[str], style: str = "") -> str:
    attr = f' style="{style}"' if style else ""
    return f"<tr{attr}>{''.join(cells)}</tr>"


def _td(text: object, style: str = "") -> str:
    attr = f' style="{style}"' if style else ""
    return f"<td{attr}>{_cell(str(text))}</td>"


def _size_td(n: int) -> str:
    return f'<td style="{RIGHT}" title="{n} bytes">{size(n)}</td>'


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _cell(text: str) -> str:
    """Text for a page: control and bidi characters escaped, then HTML's own."""
    return escape(printable(text))
