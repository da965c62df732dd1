"""Cutting a sync's key space into ranges for a cluster: several per worker.

Boundaries come from what is known without extra round trips where possible: the
keys the state database already holds (quantiles), else, for a push, the names of
the local walk (the client sees the folder), else, for a pull, the common prefixes
one level down (one request), else the keys of one listing made by the client (the
first pull of a flat prefix: later ones cut from the state database).
"""

from __future__ import annotations

from ..job import Job
from ..keyrange import EVERYTHING, KeyRange
from ..ranges import spread
from ..stores.local import walk

RANGES_PER_WORKER = 4  # fast workers take more ranges; a slow one holds up less
MIN_KEYS_PER_RANGE = 50  # each range costs a client, a listing and a task


def cut(job: Job, workers: int) -> list[KeyRange]:
    """Key ranges for `workers` workers: up to RANGES_PER_WORKER each, in key order."""
    wanted = workers * RANGES_PER_WORKER
    known = job.state.count(job.scope)
    if known >= 2 * MIN_KEYS_PER_RANGE:
        pieces = min(wanted, known // MIN_KEYS_PER_RANGE)
        return EVERYTHING.split(job.state.quantiles(job.scope, EVERYTHING, pieces, known))
    if not job.push:
        folders = job.store.folders()
        if len(folders) >= 2:  # a folder's keys go to one range: they may be many
            return EVERYTHING.split(spread(folders, min(wanted, len(folders))))
    keys = _keys(job)
    return EVERYTHING.split(spread(keys, min(wanted, len(keys) // MIN_KEYS_PER_RANGE)))


def _keys(job: Job) -> list[str]:
    """Sorted relative keys to cut at: the local walk's (a push), else the listing's."""
    if job.push:
        follow = job.options.follow_symlinks
        return [f.rel for f in walk(job.root, _quiet, follow_symlinks=follow)]
    return [o.rel for page in job.store.pages() for o in page]


def _quiet(rel: str, message: str, is_error: bool) -> None:
    """What the walk skips is reported by the ranges, not by the cutting."""
