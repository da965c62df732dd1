"""A sync's decisions as data: what to move or delete, and why."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .display import plan_frame, plan_html
from .entries import LocalFile, RemoteObject
from .location import SyncPair
from .text import printable

ActionKind = Literal["upload", "download", "delete", "conflict"]
Side = Literal["local", "remote"]  # where a problem is: the local folder, or the bucket


@dataclass(frozen=True)
class Action:
    """One thing to do to the destination, with the reason it is needed.

    `clears`, on a delete, names the upload or download it makes way for (a file
    where that path needs a folder, or the reverse): such deletes come first in a
    plan and run before every transfer; all others run after the transfers.
    """

    action: ActionKind
    path: str
    reason: str
    bytes: int
    local: LocalFile | None = None
    remote: RemoteObject | None = None
    digests: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    clears: str | None = None
    side: Side | None = None  # a two-way sync's delete: which side it is on
    # a conflict's outcome: what was done about it ("upload", "download", "delete",
    # "keep-both"); None while it is left alone (--conflict skip)
    resolution: str | None = None

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"clears": self.clears} if self.clears is not None else {}
        if self.side is not None:
            extra["side"] = self.side
        if self.action == "conflict":
            extra["resolution"] = self.resolution
        return {
            "action": self.action,
            "path": self.path,
            "reason": self.reason,
            "bytes": self.bytes,
            **extra,
        }


@dataclass(frozen=True)
class Problem:
    """A path that was left alone, and the error that stopped it."""

    path: str
    error: str
    side: Side = "local"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "error": self.error}


class Note(str):
    """A path skipped on purpose, and why; it reads as "path: reason" where text is wanted."""

    path: str
    reason: str
    side: Side

    def __new__(cls, path: str, reason: str, side: Side = "local") -> Note:
        note = super().__new__(cls, f"{path}: {reason}")
        note.path, note.reason, note.side = path, reason, side
        return note

    def __getnewargs__(self) -> tuple[str, str, Side]:  # type: ignore[override]
        return (self.path, self.reason, self.side)  # for pickle and copy

    @classmethod
    def of(cls, warning: str) -> Note:
        """A warning as a Note (a plain "path: reason" string is split at its first ': ')."""
        if isinstance(warning, Note):
            return warning
        path, _, reason = warning.partition(": ")
        return cls(path, reason) if reason else cls("", warning)

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class Plan:
    """The actions a sync would take; `unchanged` counts pairs found identical."""

    pair: SyncPair
    actions: list[Action] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # Notes: paths skipped on purpose

    @property
    def source(self) -> str:
        return self.pair.source

    @property
    def destination(self) -> str:
        return self.pair.destination

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)

    def __bool__(self) -> bool:
        return bool(self.actions)

    def count(self, kind: ActionKind) -> int:
        return sum(1 for a in self.actions if a.action == kind)

    @property
    def unresolved(self) -> int:
        """Conflicts left alone: neither side was touched."""
        return sum(1 for a in self.actions if a.action == "conflict" and a.resolution is None)

    @property
    def skipped(self) -> list[Note]:
        """The paths skipped on purpose (symbolic links, special files, ...), each with why."""
        return [Note.of(w) for w in self.warnings]

    @property
    def bytes(self) -> int:
        """Bytes the plan would move (deletes move nothing)."""
        return sum(a.bytes for a in self.actions if a.action in ("upload", "download"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "actions": [a.to_dict() for a in self.actions],
            "unchanged": self.unchanged,
            "errors": [p.to_dict() for p in self.problems],
            "skipped": [n.to_dict() for n in self.skipped],
        }

    def to_pandas(self) -> Any:
        """The actions as a pandas DataFrame (needs pandas, imported only here)."""
        return plan_frame(self)

    def _repr_html_(self) -> str:
        return plan_html(self)

    def __repr__(self) -> str:
        n = self.count("conflict")
        conflicts = f", {n} conflict{'s' if n != 1 else ''}" if n else ""
        return (
            f"<Plan {printable(self.source)} -> {printable(self.destination)}: "
            f"{self.count('upload')} upload, {self.count('download')} download, "
            f"{self.count('delete')} delete, {self.unchanged} unchanged{conflicts}>"
        )
