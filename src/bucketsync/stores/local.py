"""The local side: a sorted walk of a folder, and safe paths for writing into it."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..entries import LocalFile
from ..errors import NotARegularFile, PathConflict, UnsafeKey
from ..keyrange import EVERYTHING, KeyRange
from .tempnames import NAME_MAX, is_own_temp
from .tempnames import TEMP_MARK as TEMP_MARK  # re-exported
from .tempnames import is_temp_name as is_temp_name
from .tempnames import temp_path as temp_path

try:
    import fcntl
except ImportError:  # Windows: a file open for writing cannot be removed anyway
    fcntl = None  # type: ignore[assignment]

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # Windows has none (nor FIFOs to wait on)
ORPHAN_AGE_S = 60.0  # where files cannot be locked, an orphan is one this old

Report = Callable[[str, str, bool], None]  # (path, message, is_error)
RESERVED = "name reserved for bucketsync temporary files; skipped"


def local_file(rel: str, st: os.stat_result) -> LocalFile:
    return LocalFile(rel, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def walk(
    root: Path,
    report: Report,
    *,
    follow_symlinks: bool = False,
    sweep: bool = False,
    span: KeyRange = EVERYTHING,
    keep: frozenset[str] = frozenset(),
) -> Iterator[LocalFile]:
    """Regular files below root, sorted by relative path in code-point order.

    Sorting each folder by name, with folders keyed as ``name/``, gives the global
    order S3 lists keys in. What is skipped goes to `report(rel, message, is_error)`:
    errors (unreadable folders and files, names that are not UTF-8) and notes
    (symlinks not followed, symlink loops, special files, names reserved for
    temporary files); the walk goes on. With `sweep`, temporary files of killed runs
    are removed on the way, but those in `keep` (real paths of partial downloads to
    resume); without it (a dry run, a diff) the walk changes nothing.
    Only files in `span` come out: folders whose keys all lie outside it are not read,
    and the walk stops at the first path past its end.
    """
    if root.is_dir():
        walker = _Walk(report, follow_symlinks, sweep, span, keep)
        yield from _walk_dir(walker, str(root), "", frozenset())


@dataclass(frozen=True)
class _Walk:
    """One walk's settings: where it reports, whether it follows links and sweeps."""

    report: Report
    follow: bool
    sweep: bool
    span: KeyRange = EVERYTHING
    keep: frozenset[str] = frozenset()


def _walk_dir(
    walker: _Walk, path: str, rel_dir: str, above: frozenset[tuple[int, int]]
) -> Iterator[LocalFile]:
    try:
        here = os.stat(path)
        with os.scandir(path) as it:
            entries = [_keyed(entry, walker.follow) for entry in it]
    except OSError as e:
        walker.report(rel_dir.rstrip("/") or ".", f"cannot read folder: {e.strerror or e}", True)
        return
    folder = (here.st_dev, here.st_ino)
    if folder in above:
        walker.report(rel_dir.rstrip("/"), "symbolic link loop; not followed", False)
        return
    span = walker.span
    for key, entry in sorted(entries, key=lambda pair: pair[0]):
        rel = rel_dir + entry.name
        if not span.everything:
            if span.folder_past(rel_dir + key) if key.endswith("/") else span.past(rel):
                return  # this path and every one after it are beyond the range
            if not (span.meets_folder(rel + "/") if key.endswith("/") else rel in span):
                continue
        if not _usable_name(walker, entry, rel):
            continue
        if key.endswith("/"):
            yield from _walk_dir(walker, entry.path, rel + "/", above | {folder})
            continue
        file = _regular_file(entry, rel, walker.report, walker.follow)
        if file is not None:
            yield file


def _keyed(entry: os.DirEntry[str], follow: bool) -> tuple[str, os.DirEntry[str]]:
    try:
        is_dir = entry.is_dir(follow_symlinks=follow)
    except OSError:
        is_dir = False
    return (entry.name + "/" if is_dir else entry.name), entry


def _usable_name(walker: _Walk, entry: os.DirEntry[str], rel: str) -> bool:
    try:
        entry.name.encode("utf-8")
    except UnicodeEncodeError:
        walker.report(
            rel.encode("utf-8", "replace").decode(), "name is not valid UTF-8; skipped", True
        )
        return False
    if is_temp_name(entry.name):
        if not is_own_temp(entry.name):
            walker.report(rel, RESERVED, False)  # a user's file: never taken for an orphan
        elif walker.sweep and os.path.realpath(entry.path) not in walker.keep:
            remove_orphan(entry.path)
        return False
    if not walker.follow and entry.is_symlink():
        walker.report(rel, "symbolic link not followed (use --follow-symlinks)", False)
        return False
    return True


def _regular_file(
    entry: os.DirEntry[str], rel: str, report: Report, follow: bool
) -> LocalFile | None:
    try:
        st = entry.stat(follow_symlinks=follow)
    except OSError as e:
        report(rel, f"cannot stat: {e.strerror or e}", True)
        return None
    if not stat.S_ISREG(st.st_mode):
        report(rel, "not a regular file; skipped", False)
        return None
    return local_file(rel, st)


# --- temporary files ---------------------------------------------------------------------


def _make_folders(root: Path, path: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    real_root = os.path.realpath(root)
    folder = root
    for name in path.relative_to(root).parts[:-1]:
        folder = folder / name
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        real = os.path.realpath(folder)
        if os.path.commonpath([real_root, real]) != real_root:
            raise UnsafeKey(f"{path}: a symbolic link leads outside {root}")
        if os.path.islink(folder):  # an alias of another folder inside: files would flip
            raise UnsafeKey(
                f"{path}: {folder} is a symbolic link to {real}, inside the folder;"
                " not written through (it would change another path)"
            )
        if not folder.is_dir():
            raise PathConflict(f"a file is in the way of folder {folder}")


def claim_temp(final: Path) -> tuple[Path, int]:
    """Create a new temporary file next to final and lock it (flock) against walks.

    Returns its path and the descriptor that holds the lock; `release_temp` after the
    rename. A sweeping walk in any process removes a temporary file whose name proves
    it ours and whose lock is free: its writer was killed. The file's mode is the
    umask's, without execute bits.
    """
    for _ in range(100):
        temp = temp_path(final)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(temp, flags, 0o666)
        if _try_lock(fd) is not False and _same_file(fd, temp):
            return temp, fd
        os.close(fd)  # a walk took it for an orphan in the instant before the lock: again
    raise OSError(f"cannot claim a temporary file next to {final}")


def release_temp(temp: Path, fd: int) -> None:
    """Remove temp unless it was renamed into place, then drop its lock."""
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of data at fd's position (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass
class Temp:
    """A claimed temporary file: its path, and the descriptor that writes it and holds
    its lock."""

    path: Path
    fd: int
    renamed: bool = False  # renamed into place: nothing is left to remove

    def replace(self, final: Path) -> None:
        """Rename the file over final (keeping final's mode); its descriptor still names it."""
        keep_mode(self.fd, final)
        os.replace(self.path, final)
        self.renamed = True


@contextlib.contextmanager
def temp_file(final: Path) -> Iterator[Temp]:
    """A locked temporary file next to final, removed on exit unless renamed away."""
    temp = Temp(*claim_temp(final))
    try:
        yield temp
    finally:
        if temp.renamed:
            os.close(temp.fd)
        else:
            release_temp(temp.path, temp.fd)


def keep_mode(fd: int, final: Path) -> None:
    """Give the file open at fd the permission bits of the regular file it will replace.

    Set-user-ID, set-group-ID and sticky bits are not carried over to new content.
    """
    try:
        st = os.lstat(final)
    except OSError:
        return  # nothing there (or not reachable): the new file keeps the umask's mode
    if stat.S_ISREG(st.st_mode) and os.chmod in os.supports_fd:
        os.chmod(fd, stat.S_IMODE(st.st_mode) & 0o777)


def remove_orphan(path: str) -> bool:
    """Remove a temporary file bucketsync made, if no process holds its lock; True if
    removed. A name that does not prove itself ours (`is_own_temp`) is never removed.

    Where locks do not work (some network file systems), only a file untouched for
    ORPHAN_AGE_S is taken for an orphan.
    """
    if not is_own_temp(os.path.basename(path)):
        return False
    if fcntl is None:  # Windows: a file open for writing cannot be removed
        with contextlib.suppress(OSError):
            os.unlink(path)
            return True
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        locked = _try_lock(fd)
        if locked is None:
            locked = time.time() - os.fstat(fd).st_mtime > ORPHAN_AGE_S
        if locked and _same_file(fd, path):
            os.unlink(path)
            return True
    except OSError:
        pass
    finally:
        os.close(fd)
    return False


def lock_now(fd: int) -> bool:
    """Lock fd without waiting: False if another process holds it (True where locks
    are not supported)."""
    return _try_lock(fd) is not False


def _try_lock(fd: int) -> bool | None:
    """Lock fd without waiting: True if locked, False if busy, None if unsupported."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _same_file(fd: int, path: str | Path) -> bool:
    """Whether path still names the open file fd (not renamed or removed meanwhile)."""
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except OSError:
        return False


def open_regular(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> int:
    """Open a local file for reading, refusing anything but a regular file; its descriptor.

    The open cannot block (a FIFO swapped in for a file would wait for a writer
    forever) and, unless `follow_symlinks`, does not follow a symbolic link at path.
    """
    flags = os.O_RDONLY | _NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_symlinks and os.path.islink(path):
            raise NotARegularFile(f"{os.fspath(path)}: a symbolic link now; not read") from e
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotARegularFile(f"{os.fspath(path)}: not a regular file ({_kind(mode)}); not read")
    if _NONBLOCK:
        os.set_blocking(fd, True)
    return fd


def _kind(mode: int) -> str:
    kinds = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}
    kinds |= {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}
    return kinds.get(stat.S_IFMT(mode), "a special file")


# --- keys to paths -----------------------------------------------------------------------


def check_rel(rel: str) -> None:
    """Raise UnsafeKey unless rel is a plain relative path that stays below its root."""
    if not rel or rel.startswith("/"):
        raise UnsafeKey(f"{rel!r}: absolute or empty path")
    if "\x00" in rel:
        raise UnsafeKey(f"{rel!r}: contains a NUL character")
    for part in rel.split("/"):
        if part in ("", ".", ".."):
            raise UnsafeKey(f"{rel!r}: contains an empty, '.' or '..' path segment")
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise UnsafeKey(f"{rel!r}: a path segment is longer than {NAME_MAX} bytes")
        if is_temp_name(part):
            raise UnsafeKey(f"{rel!r}: the name of a bucketsync temporary file is reserved")


def target_path(root: Path, rel: str) -> Path:
    """The final path of rel below root; raises UnsafeKey for a path that escapes."""
    check_rel(rel)
    return root.joinpath(*rel.split("/"))


def remove_below(root: Path, rel: str) -> None:
    """Remove the file rel below root, never through a symbolic link to a folder.

    A linked folder on the way (followed by --follow-symlinks) may lead outside root
    or to another path inside it: the file there is not this path's to delete.
    """
    parts = target_path(root, rel).relative_to(root).parts
    nofollow = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    if os.unlink not in os.supports_dir_fd or not hasattr(os, "O_NOFOLLOW"):
        _refuse_links(root, parts)  # checked, then removed by path: a small window remains
        os.unlink(root.joinpath(*parts))
        return
    fd = os.open(root, nofollow)
    try:
        for name in parts[:-1]:
            try:
                below = os.open(name, nofollow | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    _refuse_links(root, parts)
                raise
            os.close(fd)
            fd = below
        os.unlink(parts[-1], dir_fd=fd)
    finally:
        os.close(fd)


def _refuse_links(root: Path, parts: tuple[str, ...]) -> None:
    folder = root
    for name in parts[:-1]:
        folder = folder / name
        if os.path.islink(folder):
            raise OSError(errno.ELOOP, f"{folder} is a symbolic link; not deleted through it")


def prepare_parent(
    root: Path, path: Path, *, replace_links: bool = False, ready: set[str] | None = None
) -> None:
    """Create path's folders one at a time, refusing files in the way and links out of root.

    Each folder is checked before the next is made inside it, so a symbolic link to
    somewhere else stops the walk down before anything is created there. A symbolic
    link at path itself is replaced only when `replace_links` (--follow-symlinks).
    Folders already checked in this sync are listed in `ready` and not checked again.
    """
    if ready is None or str(path.parent) not in ready:
        _make_folders(root, path)
        if ready is not None:
            ready.add(str(path.parent))
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISLNK(mode) and not replace_links:
        raise PathConflict(
            f"{path}: a symbolic link is in the way; not replaced (--follow-symlinks replaces it)"
        )
    if stat.S_ISDIR(mode):
        raise PathConflict(f"{path}: a folder is in the way of this file")
