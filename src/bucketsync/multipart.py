"""Multipart uploads of large files, resumed by the next sync after an interruption.

The upload carries the file's full-object CRC64NVME (declared when it starts, sent
again when it completes), so a resumed upload lands with the same checksum as a fresh
one. Its id and each acknowledged part are kept in the state database (resume.py);
the next sync of the same, unchanged file asks the server which parts it holds
(ListParts) and sends only the others. A changed file, another part size, or an
upload the server no longer knows starts over.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import errors
from .cancel import each
from .entries import LocalFile
from .hashing import combine_crc64nvme, crc64_text, crc64nvme, hash_file
from .job import Job
from .progress import Progress
from .resume import (
    GIVE_UP,
    SentPart,
    UploadRow,
    begin_upload,
    end_upload,
    part_sent,
    parts_sent,
    upload_row,
)
from .stores.local import open_regular
from .stores.multipart import ServerPart, UploadGone, list_parts


@dataclass(frozen=True)
class Landed:
    """A finished multipart upload: its CRC64NVME, the ETag listings show, and the bytes
    an earlier run had already sent (0: not resumed)."""

    crc: str
    etag: str
    reused: int


def multipart_put(
    job: Job,
    rel: str,
    path: Path,
    local: LocalFile,
    condition: dict[str, str],
    parts: Executor,
    progress: Progress,
    known: str | None,
    part_size: int,
) -> Landed:
    """Upload the file (as `local` was stat'ed) in parts of part_size, resuming the
    upload an earlier run left for it if there is one; `known`: its CRC64NVME, if known."""
    key = job.store.location.key(rel)
    row, done = _resumable(job, rel, path, local, part_size, known)
    if row is None:
        crc = known or _hash(job, path, local)
        job.cancel.check()
        row = UploadRow(key, job.store.start_multipart(key, crc), part_size, crc, local.fingerprint)
        begin_upload(job, rel, row)
    reused = sum(part.length for part in done.values())
    progress.advance(reused)
    try:
        sent = _send(job, row, path, local, parts, progress, done)
        etag = _finish(job, row, path, sent, condition)
    except GIVE_UP:
        job.store.abort_multipart(key, row.upload_id)
        end_upload(job, rel, row.upload_id)
        raise
    end_upload(job, rel, row.upload_id)
    return Landed(row.crc64nvme, _listed_etag(job, key, row.crc64nvme, etag), reused)


def _hash(job: Job, path: Path, local: LocalFile) -> str:
    follow = job.options.follow_symlinks
    crc = hash_file(path, {"crc64nvme"}, job.cancel.check, follow_symlinks=follow)["crc64nvme"]
    job.stats.hashed(local.size)
    return crc


def _resumable(
    job: Job, rel: str, path: Path, local: LocalFile, part_size: int, known: str | None
) -> tuple[UploadRow | None, dict[int, SentPart]]:
    """The upload an earlier run left for this very file version, and its parts that the
    server still holds as recorded; (None, {}) to start over (ending any other upload)."""
    row, key = upload_row(job, rel), job.store.location.key(rel)
    if row is None:
        return None, {}
    try:
        if not row.fits(key, local, part_size) or known not in (None, row.crc64nvme):
            raise UploadGone(f"{key}: the file changed since its upload began")
        held = list_parts(job.store, key, row.upload_id)
    except errors.EndpointError:
        raise  # the server is out of reach: the upload stays for a later sync
    except errors.BucketsyncError:  # gone, refused, or not listable: start over
        job.store.abort_multipart(row.key, row.upload_id)
        end_upload(job, rel, row.upload_id)
        return None, {}
    recorded = parts_sent(job, row.upload_id)
    done = {
        n: part
        for n, part in recorded.items()
        if n in held and (held[n].etag, held[n].size) == (part.etag.strip('"'), part.length)
    }
    unrecorded = [p for n, p in held.items() if n not in done and n <= _count(local.size, row)]
    if unrecorded:  # acknowledged after the last record (a kill): read and compare them
        done.update(_matching(job, path, row, unrecorded))
    return row, done


def _count(size: int, row: UploadRow) -> int:
    return max(1, -(-size // row.part_size))


def _matching(job: Job, path: Path, row: UploadRow, held: list[ServerPart]) -> dict[int, SentPart]:
    """The server's parts whose bytes are the file's, as their MD5 ETag or CRC64NVME show."""
    found: dict[int, SentPart] = {}
    with open(open_regular(path, follow_symlinks=job.options.follow_symlinks), "rb") as f:
        for part in held:
            data = os.pread(f.fileno(), row.part_size, (part.number - 1) * row.part_size)
            job.stats.hashed(len(data))
            crc = crc64nvme(data)
            same = part.crc64nvme == crc64_text(crc) or part.etag == hashlib.md5(data).hexdigest()
            if same and len(data) == part.size:
                found[part.number] = SentPart(part.number, f'"{part.etag}"', crc, len(data))
    return found


def _send(
    job: Job,
    row: UploadRow,
    path: Path,
    local: LocalFile,
    parts: Executor,
    progress: Progress,
    done: dict[int, SentPart],
) -> list[SentPart]:
    """Send the parts not `done`; every part, in order. A part in flight is not stopped:
    it is sent whole, and the others do not start."""
    missing = [n for n in range(1, _count(local.size, row) + 1) if n not in done]
    with open(open_regular(path, follow_symlinks=job.options.follow_symlinks), "rb") as f:
        fd = f.fileno()
        sent = each(parts, lambda n: _put_part(job, row, fd, n, progress), missing)
    return sorted([*done.values(), *sent], key=lambda part: part.number)


def _put_part(job: Job, row: UploadRow, fd: int, number: int, progress: Progress) -> SentPart:
    job.cancel.check()
    data = os.pread(fd, row.part_size, (number - 1) * row.part_size)
    crc = crc64nvme(data)
    entry = job.store.put_part(row.key, row.upload_id, number, data, crc64_text(crc))
    part = SentPart(number, str(entry["ETag"]), crc, len(data))
    part_sent(job, row.upload_id, part)
    progress.advance(len(data))
    return part


def _finish(
    job: Job, row: UploadRow, path: Path, sent: list[SentPart], condition: dict[str, str]
) -> str:
    """Complete the upload, once the parts' CRCs combine to the file's."""
    combined = sent[0].crc
    for part in sent[1:]:
        combined = combine_crc64nvme(combined, part.crc, part.length)
    if crc64_text(combined) != row.crc64nvme:
        raise errors.LocalChanged(f"{path}: changed while it was being uploaded")
    finished: list[dict[str, Any]] = [
        {"PartNumber": p.number, "ETag": p.etag, "ChecksumCRC64NVME": crc64_text(p.crc)}
        for p in sent
    ]
    key, crc = row.key, row.crc64nvme
    return conditional(
        job,
        key,
        crc,
        lambda: job.store.finish_multipart(key, row.upload_id, finished, crc, condition),
    )


def _listed_etag(job: Job, key: str, crc: str, etag: str) -> str:
    """The ETag listings will show for a multipart upload just finished: some servers
    (rclone serve s3: a whole-file MD5) list another than the completion gave, and a
    record of that one would cost a HEAD per object on every later sync."""
    with contextlib.suppress(errors.BucketsyncError):
        facts = job.store.head(key)
        if facts.etag != etag and facts.crc64nvme == crc:
            return facts.etag
    return etag


def conditional(job: Job, key: str, crc: str, put: Callable[[], str]) -> str:
    """Run a conditional write; a refusal caused by our own earlier attempt is success.

    A request whose answer was lost may have been carried out: its retry then meets
    412 (the condition no longer holds) or NoSuchUpload (the upload was completed).
    If the object now holds exactly our content, the write happened.
    """
    try:
        return put()
    except (errors.RemoteChanged, errors.ObjectNotFound, errors.TransferError) as e:
        with contextlib.suppress(errors.BucketsyncError):
            facts = job.store.head(key)
            if facts.crc64nvme == crc:
                return facts.etag
        if not isinstance(e, errors.RemoteChanged):
            raise
        raise errors.RemoteChanged(
            f"{key}: changed on the server since it was listed; not overwritten"
            " (sync again to compare with the new version)"
        ) from e
