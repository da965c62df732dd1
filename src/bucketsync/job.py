"""The settings of one sync, and everything a sync's stages share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cancel import Cancel
from .location import SyncPair
from .options import DEFAULT_JOBS, SyncOptions
from .report import Stats
from .state import StateDB
from .stores.s3 import S3Store

__all__ = ["DEFAULT_JOBS", "Job", "SyncOptions"]


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

    @property
    def root(self) -> Path:
        return self.pair.local

    @property
    def push(self) -> bool:
        return self.pair.direction == "push"
