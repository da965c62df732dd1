"""The settings of one sync, and everything a sync's stages share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cancel import Cancel
from .compare import COMPARE_MODES, CompareMode
from .errors import UsageError
from .filters import Filters, Rule
from .location import SyncPair
from .report import Stats
from .state import StateDB
from .stores.s3 import S3Store

DEFAULT_JOBS = 16


@dataclass(frozen=True)
class SyncOptions:
    """The options of `sync` and `diff`, as keyword arguments of the API and CLI flags."""

    delete: bool = False
    dry_run: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    filter_rules: tuple[Rule, ...] = ()
    jobs: int = DEFAULT_JOBS
    endpoint_url: str | None = None
    profile: str | None = None
    compare: CompareMode = "content"
    progress: bool | None = None
    follow_symlinks: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5  # tries per request, the first one included
    lock_timeout: float | None = None  # wait for another sync of the folder; None: no limit

    def __post_init__(self) -> None:
        if self.compare not in COMPARE_MODES:
            raise UsageError(f"--compare must be one of {', '.join(COMPARE_MODES)}")
        if self.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        if self.read_timeout <= 0 or self.connect_timeout <= 0:
            raise UsageError("timeouts must be positive")
        if self.max_attempts < 1:
            raise UsageError("--max-attempts must be at least 1")

    @property
    def filters(self) -> Filters:
        return Filters.build(self.include, self.exclude, self.filter_rules)


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
