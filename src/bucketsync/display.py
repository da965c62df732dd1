"""Plans and reports as HTML tables (Jupyter's `_repr_html_`) and pandas DataFrames."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from .errors import MissingDependency
from .text import printable

if TYPE_CHECKING:
    from .plan import Action, Note, Plan, Problem
    from .report import Report

MAX_ROWS = 50
COLUMNS = ("action", "path", "reason", "bytes")


def plan_html(plan: Plan) -> str:
    counts = ", ".join(f"{plan.count(kind)} {kind}" for kind in ("upload", "download", "delete"))
    title = f"Plan {plan.source} → {plan.destination}: {counts}, {plan.unchanged} unchanged"
    return _title(title) + _actions(plan.actions) + _problems(plan.problems) + _notes(plan)


def report_html(report: Report) -> str:
    summary = report.to_dict()["summary"]
    rows = [(name.replace("_", " "), value) for name, value in summary.items()]
    title = f"Report {report.plan.source} → {report.plan.destination}"
    if report.dry_run:
        title += " (dry run)"
    return (
        _title(title)
        + _table(("", "value"), rows, len(rows))
        + _actions(report.plan.actions)
        + _problems(report.errors)
        + _notes(report.plan)
    )


def plan_frame(plan: Plan) -> Any:
    """The plan's actions as a pandas DataFrame, one row per file."""
    try:
        pandas = importlib.import_module("pandas")
    except ImportError as e:
        raise MissingDependency("to_pandas() needs pandas: pip install pandas") from e
    return pandas.DataFrame([a.to_dict() for a in plan.actions], columns=list(COLUMNS))


def _title(text: str) -> str:
    return f"<p><strong>{_cell(text)}</strong></p>"


def _actions(actions: Sequence[Action]) -> str:
    if not actions:
        return "<p>Nothing to move.</p>"
    rows = ((a.action, a.path, a.reason, a.bytes) for a in actions[:MAX_ROWS])
    return _table(COLUMNS, rows, len(actions))


def _problems(problems: Sequence[Problem]) -> str:
    if not problems:
        return ""
    rows = ((p.path, p.error) for p in problems[:MAX_ROWS])
    return _table(("path", "error"), rows, len(problems))


def _notes(plan: Plan) -> str:
    notes: Sequence[Note] = plan.skipped
    if not notes:
        return ""
    rows = ((n.path, n.reason) for n in notes[:MAX_ROWS])
    return _table(("skipped", "reason"), rows, len(notes))


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], total: int) -> str:
    head = "".join(f"<th>{_cell(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    more = f"<p>… and {total - MAX_ROWS} more</p>" if total > MAX_ROWS else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _cell(text: str) -> str:
    """Text for a page: control and bidi characters escaped, then HTML's own."""
    return escape(printable(text))
