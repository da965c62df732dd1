"""A sync as data (`SyncSpec`), and the resources one process runs it with (`Job`).

A `SyncSpec` is immutable and picklable: the two sides, the options and a key range,
with no client, database or credentials in it, so it can travel to another process
(a Dask worker) that opens its own resources for it (`api.open_resources`). A `Job`
holds those resources: the S3 store, the state database, the running totals, the
cancel flag, and scratch that only this process's run of the spec uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cancel import Cancel
from .keyrange import EVERYTHING, KeyRange
from .location import SyncPair
from .options import DEFAULT_JOBS, SyncOptions
from .report import Stats
from .state import StateDB
from .stores.s3 import S3Store

__all__ = ["DEFAULT_JOBS", "Job", "SyncOptions", "SyncSpec"]


@dataclass(frozen=True)
class SyncSpec:
    """One sync, or one key range of it, as plain data.

    `ranges` forces the number of key ranges the listing is cut into (0: chosen from
    the window and the prefix's size, see `ranges.choose_ranges`).
    """

    pair: SyncPair
    options: SyncOptions
    key_range: KeyRange = EVERYTHING
    ranges: int = 0


@dataclass
class Job:
    """One sync in progress: its two sides, its options, state and running totals."""

    pair: SyncPair
    options: SyncOptions
    store: S3Store
    state: StateDB
    scope: int
    stats: Stats = field(default_factory=Stats)
    folders_ready: set[str] = field(default_factory=set)  # checked by prepare_parent
    presorted: bool = False  # sort the listing in memory: the server did not sort it
    cancel: Cancel = field(default_factory=Cancel)  # set by an interrupt; workers stop
    key_range: KeyRange = EVERYTHING
    ranges: int = 0  # as SyncSpec.ranges
    keep_local_edits: bool = False  # bisync: a download leaves alone a file changed since the walk

    def __post_init__(self) -> None:
        """A wait for a place in the store's request window ends at this job's
        interrupt (stores/window.py), as at any other job's on the same store."""
        gate = self.store.connection.gate
        earlier = gate.stop
        gate.stop = lambda: self.cancel.is_set or earlier()

    @property
    def spec(self) -> SyncSpec:
        """What this job runs, as plain data."""
        return SyncSpec(self.pair, self.options, self.key_range, self.ranges)

    @property
    def root(self) -> Path:
        return self.pair.local

    @property
    def push(self) -> bool:
        return self.pair.direction == "push"
