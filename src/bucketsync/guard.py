"""Checks between a plan and its transfers that keep a sync from losing data.

- `withhold_deletes`: more deletes on a side than `--max-delete` allows: no delete
  runs (on either side), the rest of the plan does, and the run reports why (exit 1).
- `spare_changed`: a one-way `Mirror.pull()` / `push()` leaves alone a path changed
  on both sides since they were last identical (its state row, the ancestor), and
  reports it as a conflict instead of overwriting one side's change.
"""

from __future__ import annotations

from dataclasses import replace

from .bisync_plan import local_crc
from .entries import Record
from .job import Job
from .plan import Action, Note, Plan, Problem, Side
from .threeway import conflict_reason


def withhold_deletes(plan: Plan, limit: int | None, side_of: dict[str, Side]) -> int:
    """Drop every delete when a side has more than `limit`; the number dropped.

    `side_of` maps a delete's path to its side when the plan has deletes on both
    (a two-way sync); a one-way plan's deletes are all on its destination.
    """
    if limit is None:
        return 0
    dest: Side = "remote" if plan.pair.direction == "push" else "local"
    counts: dict[Side, int] = {}
    for a in plan.actions:
        if a.action == "delete":
            side = a.side or side_of.get(a.path, dest)
            counts[side] = counts.get(side, 0) + 1
    over = {side for side, n in counts.items() if n > limit}
    if not over:
        return 0
    kept: list[Action] = []
    withheld = 0
    for a in plan.actions:  # none on either side: a half-done mass delete helps nobody
        side = a.side or side_of.get(a.path, dest)
        if a.action == "delete":
            withheld += 1
            plan.warnings.append(Note(a.path, f"not deleted: over --max-delete {limit}", side))
        else:
            kept.append(a)
    plan.actions = kept
    for side in sorted(over):
        where = "local files" if side == "local" else "remote objects"
        message = (
            f"{counts[side]} {where} to delete, more than --max-delete {limit}:"
            " nothing deleted (the rest was done)"
        )
        plan.problems.append(Problem("", message, side))
    return withheld


def spare_changed(job: Job, plan: Plan) -> None:
    """Turn a one-way transfer or delete that would overwrite a change on its destination
    (changed on both sides since the ancestor) into a conflict; it is not carried out."""
    actions: list[Action] = []
    for a in plan.actions:
        record = job.state.get(job.scope, a.path) if a.clears is None else None
        why = _both_changed(job, a, record) if record is not None else None
        if why is None:
            actions.append(a)
        else:
            side: Side = "remote" if job.push else "local"
            actions.append(replace(a, action="conflict", reason=why, side=side, bytes=0))
    plan.actions = actions


def _both_changed(job: Job, action: Action, record: Record) -> str | None:
    """Why the action would lose a change, or None when only its source changed."""
    local_change = _local_changed(job, action, record)
    remote = action.remote
    if remote is None:
        remote_change = "deleted"
    elif record.remote_matches(remote):
        remote_change = ""
    else:
        remote_change = "edited"
    if not local_change or not remote_change:
        return None
    return conflict_reason(local_change, remote_change)


def _local_changed(job: Job, action: Action, record: Record) -> str:
    """ "deleted", "edited" or "" for the local side against the ancestor (by content)."""
    local = action.local
    if local is None:
        return "deleted"
    if record.local_matches(local):
        return ""
    crc = (action.digests or {}).get("crc64nvme") or local_crc(job, local)
    return "" if crc == record.crc64nvme else "edited"
