"""Clean-up of a Mirror's local copies: remove only the copies it owns, say what it kept.

A file is the Mirror's own copy when its scope in the state database has a record for
it and the file is still the recorded version: the same fingerprint or, if that
changed, the same CRC64NVME. Everything else stays and is reported kept: files never
synced, local changes not pushed yet (unless `force`), symbolic links (never
followed) and whatever is below them. A folder is removed only when the clean-up
emptied it. The rows of removed copies are forgotten; the rows of kept ones stay.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .entries import Fingerprint, Record
from .errors import KeptWarning, UnsafeKey, warn
from .hashing import hash_file
from .state import StateDB
from .stores.local import is_temp_name, local_file, remove_below, target_path
from .text import printable

UNCHANGED = "a synced copy, unchanged"
FORCED = "changed since it was synced; removed by force=True"
EMPTIED = "a folder the clean-up emptied"
CHANGED = "changed here since it was synced, not pushed; force=True removes it"
UNSYNCED = "not synced by this Mirror"
TEMPORARY = "a temporary file (a write in progress, or a killed run's)"
LINK = "a symbolic link (not followed)"
BELOW_LINK = "below a symbolic link (not followed)"
SPECIAL = "not a regular file"
RACED = "changed during the clean-up"
SHOWN = 10  # paths a warning names; the result lists them all

Entry = tuple[Path, str]


@dataclass(frozen=True)
class Cleared:
    """What a clean-up removed and what it kept, as (path, reason) pairs."""

    removed: tuple[Entry, ...] = ()
    kept: tuple[Entry, ...] = ()

    def __str__(self) -> str:
        return f"removed {len(self.removed)}, kept {len(self.kept)}"


@dataclass
class _Tally:
    root: Path
    force: bool
    removed: list[Entry] = field(default_factory=list)
    kept: list[Entry] = field(default_factory=list)
    reported: set[Path] = field(default_factory=set)  # kept paths that have a record
    emptied: set[Path] = field(default_factory=set)  # folders something was removed from
    forget: list[str] = field(default_factory=list)

    def keep(self, path: Path, reason: str) -> None:
        self.kept.append((path, reason))
        self.reported.add(path)

    def remove(self, path: Path, reason: str) -> None:
        self.removed.append((path, reason))
        self.emptied.add(path.parent)


def clean_up(root: Path, state: StateDB, scope: int, *, force: bool = False) -> Cleared:
    """Remove the scope's own copies below root (and local changes too, if `force`)."""
    tally = _Tally(root, force)
    for record in state.records(scope):
        _settle(record, tally)
    state.forget(scope, tally.forget)
    if root.is_dir():
        _sweep(tally)
    return Cleared(tuple(tally.removed), tuple(sorted(tally.kept)))


def prune(cleared: Cleared, folder: Path, stop: Path) -> Cleared:
    """Remove folder's emptied parents up to stop (included), if the clean-up removed folder."""
    if (folder, EMPTIED) not in cleared.removed:
        return cleared
    removed = list(cleared.removed)
    while folder != stop and folder.parent.is_relative_to(stop):
        folder = folder.parent
        try:
            os.rmdir(folder)
        except OSError:
            break
        removed.append((folder, EMPTIED))
    return Cleared(tuple(removed), cleared.kept)


def warn_kept(cleared: Cleared, root: Path, what: str) -> None:
    """A `KeptWarning` naming what the clean-up kept, and why (nothing if it kept nothing),
    about the caller's line."""
    count = len(cleared.kept)
    if not count:
        return
    named = ", ".join(f"{_shown(p, root)} ({why})" for p, why in cleared.kept[:SHOWN])
    more = f", and {count - SHOWN} more (listed in the result's `kept`)" if count > SHOWN else ""
    paths = "path" if count == 1 else "paths"
    message = f"{what} kept {count} {paths} in {printable(str(root))}: {named}{more}"
    warn(message, KeptWarning)


def _settle(record: Record, tally: _Tally) -> None:
    """Remove one recorded copy if it is still the recorded version (or if forced)."""
    try:
        path = target_path(tally.root, record.rel)
    except UnsafeKey:
        return  # no path of this folder: nothing to remove
    if _below_link(tally.root, path):
        tally.keep(path, BELOW_LINK)
        return
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        tally.forget.append(record.rel)  # gone already
        return
    if not stat.S_ISREG(st.st_mode):
        if not stat.S_ISDIR(st.st_mode):  # a folder's content is swept on its own
            tally.keep(path, LINK if stat.S_ISLNK(st.st_mode) else SPECIAL)
        return
    unchanged = is_unchanged(record, path, st)
    if not unchanged and not tally.force:
        tally.keep(path, CHANGED)
        return
    _remove(record.rel, path, _fingerprint(st), UNCHANGED if unchanged else FORCED, tally)


def _below_link(root: Path, path: Path) -> bool:
    """True if a folder between root and path is a symbolic link."""
    folder = root
    for name in path.relative_to(root).parts[:-1]:
        folder = folder / name
        if folder.is_symlink():
            return True
    return False


def is_unchanged(record: Record, path: Path, st: os.stat_result) -> bool:
    """True if the file is the version recorded: the same fingerprint, else the same CRC."""
    local = local_file(record.rel, st)
    if record.local_matches(local):
        return True
    if local.size != record.fingerprint[2]:
        return False
    try:
        return hash_file(path, ["crc64nvme"])["crc64nvme"] == record.crc64nvme
    except OSError:
        return False


def _remove(rel: str, path: Path, checked: Fingerprint, reason: str, tally: _Tally) -> None:
    """Unlink path unless it changed since it was checked (never through a folder swapped
    for a symbolic link since: the check may have hashed for a while)."""
    try:
        if _fingerprint(os.lstat(path)) != checked:
            tally.keep(path, RACED)
            return
        remove_below(tally.root, rel)
    except FileNotFoundError:
        pass
    except OSError as e:
        tally.keep(path, f"could not be removed: {e.strerror or e}")
        return
    else:
        tally.remove(path, reason)
    tally.forget.append(rel)


def _sweep(tally: _Tally) -> None:
    """Report what no record covers, and remove the folders the clean-up emptied."""

    def unreadable(error: OSError) -> None:
        tally.keep(Path(error.filename), f"cannot read the folder: {error.strerror or error}")

    for here, folders, files in os.walk(tally.root, topdown=False, onerror=unreadable):
        folder = Path(here)
        for name in (*folders, *files):
            _report(folder / name, tally)
        if folder in tally.emptied:
            _remove_folder(folder, tally)


def _report(path: Path, tally: _Tally) -> None:
    """Keep, with its reason, an entry that no record covered (folders are walked)."""
    if path in tally.reported:
        return
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        tally.keep(path, f"cannot stat: {e.strerror or e}")
        return
    if stat.S_ISDIR(mode):
        return
    if stat.S_ISLNK(mode):
        tally.keep(path, LINK)
    elif stat.S_ISREG(mode):
        tally.keep(path, TEMPORARY if is_temp_name(path.name) else UNSYNCED)
    else:
        tally.keep(path, SPECIAL)


def _remove_folder(folder: Path, tally: _Tally) -> None:
    try:
        os.rmdir(folder)  # only an empty folder goes
    except OSError:
        return
    tally.remove(folder, EMPTIED)


def _fingerprint(st: os.stat_result) -> Fingerprint:
    return local_file("", st).fingerprint


def _shown(path: Path, root: Path) -> str:
    text = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    return printable(text or ".")
