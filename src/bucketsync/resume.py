"""Large transfers in flight, kept in the state database so the next sync resumes them.

A multipart upload is remembered with the file's fingerprint, its CRC64NVME and part
size, and each part once the server has acknowledged it. A ranged download is
remembered with its temporary file, the object's ETag and size, and each range once
written, with the CRC64NVME of its bytes. A row is written after the fact it records,
so after a SIGKILL a row may miss a part or range that was in flight, never claim one
that was not. The rows go when the transfer lands or is given up; `sweep` ends those
a complete sync left behind (aborting their uploads, removing their temporary files).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import errors
from .entries import LocalFile
from .hashing import crc64nvme
from .job import Job
from .stores.local import Temp, claim_temp, lock_now, release_temp, remove_orphan
from .stores.multipart import open_uploads
from .stores.tempnames import is_own_temp

Piece = tuple[int, int, int]  # (offset, length, CRC64NVME of those bytes)
# Errors after which a transfer is given up, not kept for the next sync: its bytes or
# its source are wrong, not merely cut off.
GIVE_UP = (
    errors.ChecksumMismatch,
    errors.RemoteChanged,
    errors.ObjectNotFound,
    errors.LocalChanged,
    errors.PathConflict,
)


# --- uploads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadRow:
    """A multipart upload begun: where, which, for which version of the file."""

    key: str
    upload_id: str
    part_size: int
    crc64nvme: str
    fingerprint: tuple[int, int, int, int, int]

    def fits(self, key: str, local: LocalFile, part_size: int) -> bool:
        """Whether the upload was begun for this very file version, key and part size."""
        return (self.key, self.fingerprint, self.part_size) == (key, local.fingerprint, part_size)


@dataclass(frozen=True)
class SentPart:
    """A part the server acknowledged: its ETag (as returned), CRC64NVME and length."""

    number: int
    etag: str
    crc: int
    length: int


def upload_row(job: Job, rel: str) -> UploadRow | None:
    rows = job.state.read(
        "SELECT key, upload_id, part_size, crc64nvme, dev, ino, size, mtime_ns, ctime_ns"
        " FROM uploads WHERE scope=? AND rel=?",
        (job.scope, rel),
    )
    if not rows:
        return None
    key, upload_id, part_size, crc, *fingerprint = rows[0]
    return UploadRow(key, upload_id, part_size, crc, tuple(fingerprint))


def begin_upload(job: Job, rel: str, row: UploadRow) -> None:
    job.state.write(
        "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(job.scope, rel, row.key, row.upload_id, row.part_size, row.crc64nvme, *row.fingerprint)],
    )


def part_sent(job: Job, upload_id: str, part: SentPart) -> None:
    job.state.write(
        "INSERT OR REPLACE INTO upload_parts VALUES (?, ?, ?, ?, ?)",
        [(upload_id, part.number, part.etag, f"{part.crc:016x}", part.length)],
    )


def parts_sent(job: Job, upload_id: str) -> dict[int, SentPart]:
    rows = job.state.read(
        "SELECT number, etag, crc, length FROM upload_parts WHERE upload_id=?", (upload_id,)
    )
    return {n: SentPart(n, etag, int(crc, 16), length) for n, etag, crc, length in rows}


def end_upload(job: Job, rel: str, upload_id: str) -> None:
    """Forget an upload (landed, or given up)."""
    job.state.write("DELETE FROM uploads WHERE scope=? AND rel=?", [(job.scope, rel)])
    job.state.write("DELETE FROM upload_parts WHERE upload_id=?", [(upload_id,)])


# --- downloads -----------------------------------------------------------------------------


@dataclass
class Partial:
    """The temporary file of a ranged download: new, or kept from an earlier run with
    the ranges already written and checked (`done`) and the range size they used."""

    job: Job
    rel: str
    temp: Temp
    etag: str
    size: int
    step: int | None = None  # None until `begin`: a new download
    done: list[Piece] = field(default_factory=list)

    @property
    def reused(self) -> int:
        return sum(length for _, length, _ in self.done)

    def begin(self, step: int) -> None:
        """Remember the download, its ranges `step` bytes long (a new one only)."""
        if self.step is None:
            self.step = step
            self.job.state.write(
                "INSERT OR REPLACE INTO downloads VALUES (?, ?, ?, ?, ?, ?)",
                [(self.job.scope, self.rel, str(self.temp.path), self.etag, self.size, step)],
            )

    def written(self, piece: Piece) -> None:
        """Remember a range written at its offset, with its bytes' CRC64NVME."""
        offset, length, crc = piece
        self.job.state.write(
            "INSERT OR REPLACE INTO download_ranges VALUES (?, ?, ?, ?)",
            [(str(self.temp.path), offset, length, f"{crc:016x}")],
        )


@contextlib.contextmanager
def partial_temp(job: Job, rel: str, final: Path, etag: str, size: int) -> Iterator[Partial]:
    """The temporary file for a ranged download of (etag, size) to final: the one an
    earlier run left, if it was for this object version, else a new one. Kept, with its
    rows, when the download breaks off (see GIVE_UP); removed otherwise unless landed."""
    partial = _kept(job, rel, final, etag, size)
    if partial is None:
        partial = Partial(job, rel, Temp(*claim_temp(final)), etag, size)
    keep = False
    try:
        yield partial
    except GIVE_UP:
        raise
    except BaseException:
        keep = partial.step is not None and not partial.temp.renamed
        raise
    finally:
        if keep:
            os.close(partial.temp.fd)  # the file stays, its lock goes with the descriptor
        else:
            _forget_download(job, rel, str(partial.temp.path))
            if partial.temp.renamed:
                os.close(partial.temp.fd)
            else:
                release_temp(partial.temp.path, partial.temp.fd)


def _kept(job: Job, rel: str, final: Path, etag: str, size: int) -> Partial | None:
    """The partial download an earlier run left for rel, if it is of this object version
    and its file is still there, ours, and free; its ranges that still check out."""
    rows = job.state.read(
        "SELECT temp, etag, size, step FROM downloads WHERE scope=? AND rel=?", (job.scope, rel)
    )
    if not rows:
        return None
    temp, kept_etag, kept_size, step = rows[0]
    fd = None
    if (kept_etag, kept_size) == (etag, size) and Path(temp).parent == final.parent:
        fd = _reopen(temp, size)
    if fd is None:
        _discard(job, rel, temp)
        return None
    partial = Partial(job, rel, Temp(Path(temp), fd), etag, size, step)
    partial.done = _checked(job, fd, temp)
    return partial


def _reopen(temp: str, size: int) -> int | None:
    """A descriptor of our own temporary file, locked, if it has the object's size."""
    if not is_own_temp(os.path.basename(temp)):
        return None
    try:
        fd = os.open(temp, os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_size == size and lock_now(fd):
            return fd  # (not locked: another process is writing it)
    except OSError:
        pass
    os.close(fd)
    return None


def _checked(job: Job, fd: int, temp: str) -> list[Piece]:
    """The recorded ranges whose bytes in the file still have their recorded CRC64NVME."""
    rows = job.state.read("SELECT offset, length, crc FROM download_ranges WHERE temp=?", (temp,))
    good: list[Piece] = []
    for offset, length, crc in rows:
        data = os.pread(fd, length, offset)
        job.stats.hashed(len(data))
        if len(data) == length and crc64nvme(data) == int(crc, 16):
            good.append((offset, length, int(crc, 16)))
    return good


def _discard(job: Job, rel: str, temp: str) -> None:
    """Give up a partial download: its file (if ours and free) and its rows."""
    _forget_download(job, rel, temp)
    remove_orphan(temp)


def _forget_download(job: Job, rel: str, temp: str) -> None:
    job.state.write("DELETE FROM downloads WHERE scope=? AND rel=?", [(job.scope, rel)])
    job.state.write("DELETE FROM download_ranges WHERE temp=?", [(temp,)])


def kept_temps(job: Job) -> frozenset[str]:
    """The temporary files of partial downloads that a walk must leave alone."""
    rows = job.state.read("SELECT temp FROM downloads")
    return frozenset(os.path.realpath(row[0]) for row in rows)


# --- abandoned transfers -------------------------------------------------------------------


def sweep(job: Job, failed: Iterable[str]) -> None:
    """After a complete sync: end the transfers in flight it left, but those of the
    paths that failed in it (kept for the next sync).

    Their uploads are aborted if the server lists them under the prefix as open
    (ListMultipartUploads), only those this database recorded: never another's. Their
    partial downloads are removed.
    """
    keep = set(failed)
    query = "SELECT rel, key, upload_id FROM uploads WHERE scope=?"
    _abort(job, [row for row in job.state.read(query, (job.scope,)) if row[0] not in keep])
    for rel, temp in job.state.read("SELECT rel, temp FROM downloads WHERE scope=?", (job.scope,)):
        if rel not in keep:
            _discard(job, rel, temp)


def _abort(job: Job, uploads: Iterable[Any]) -> None:
    uploads = list(uploads)
    if not uploads:
        return
    listed = open_uploads(job.store, job.store.location.prefix)
    for rel, key, upload_id in uploads:
        if listed is None or (key, upload_id) in listed:
            job.store.abort_multipart(key, upload_id)
        end_upload(job, rel, upload_id)
