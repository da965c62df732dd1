"""Ranged, parallel downloads of large objects, resumed by the next sync.

The object's ranges go on a few lanes into a temporary file (resume.Partial); each
range written is recorded with its bytes' CRC64NVME, so a download cut off (killed,
interrupted, network lost) keeps what it wrote, and the next sync of the unchanged
object (GETs pinned by If-Match on its ETag) fetches only the ranges still missing.
The pieces' CRCs combine to the whole file's, which is checked against the object
before the file lands.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from pathlib import Path

from . import errors
from .cancel import each
from .compare import RemoteFacts, matches, verification
from .entries import RemoteObject
from .hashing import (
    InOrderHasher,
    combine_crc64nvme,
    crc64_text,
    crc64nvme,
    hash_file,
    multipart_count,
)
from .job import Job
from .progress import Progress
from .resume import Partial, Piece
from .stores.errors import translated

# Reads of 128 KiB stay in the core's cache until their copy into the page cache; reads
# of 1 MiB took about twice the system time per byte (2 GiB pulls timed by hand, S5's setup).
CHUNK = 128 * 1024
# Ranges of one file in flight at once: more only contend for the file's inode lock.
RANGE_STREAMS = 6
# Chunks handed to an in-order hasher are kept until hashed, so each is a new buffer;
# larger ones mean fewer hand-overs to the hashing thread.
ORDERED_CHUNK = 1024 * 1024
IN_ORDER_PARTS = 6  # parts' worth of bytes that may wait for an in-order digest (MD5...)


def ranged_get(
    job: Job,
    remote: RemoteObject,
    partial: Partial,
    parts: Executor,
    progress: Progress,
    part_size: int,
) -> dict[str, str]:
    """Fill the partial download's file with the object's missing ranges; its digests,
    checked against the object's checksum or ETag. A download resumed is hashed whole
    again unless the object has a CRC64NVME (only that combines across ranges)."""
    facts = job.store.head(remote.key)
    if facts.etag != remote.etag:
        raise errors.RemoteChanged(f"{remote.key}: the object changed after it was listed")
    check = expected(job, remote, facts)
    ordered = None
    if check and check[0] != "crc64nvme" and partial.step is None:
        ordered = InOrderHasher({check[0]}, IN_ORDER_PARTS * part_size)
    partial.begin(part_size if ordered is not None else range_size(remote.size, part_size))
    progress.advance(partial.reused)
    with ordered or contextlib.nullcontext():
        os.ftruncate(partial.temp.fd, remote.size)
        write = _one_at_a_time(partial.temp.fd)
        pieces = _get_ranges(job, remote, write, parts, progress, partial, ordered)
    digests = {"crc64nvme": crc64_text(_whole_crc(remote, [*partial.done, *pieces]))}
    if ordered is not None:
        digests.update(ordered.values())
    verify(job, remote, check, digests, partial.temp.path)
    return digests


Write = Callable[[memoryview, int], None]  # write the bytes at an offset of the file


def _one_at_a_time(fd: int) -> Write:
    """pwrite, one call at a time: writers to one file that meet on its inode lock spin
    in the kernel (perf showed 19-24% of a 2 GiB pull's samples there); here they sleep."""
    lock = threading.Lock()

    def write(chunk: memoryview, offset: int) -> None:
        with lock:
            os.pwrite(fd, chunk, offset)

    return write


def _get_ranges(
    job: Job,
    remote: RemoteObject,
    write: Write,
    parts: Executor,
    progress: Progress,
    partial: Partial,
    ordered: InOrderHasher | None = None,
) -> list[Piece]:
    """Fetch the ranges the partial download lacks on a few lanes, each taking every n-th
    range in turn; each one is recorded once written."""
    step, size, done = partial.step or 1, remote.size, {offset for offset, _, _ in partial.done}
    starts = [start for start in range(0, size, step) if start not in done]
    ranges = [(start, min(start + step, size) - 1) for start in starts]
    streams = max(1, min(job.options.jobs, RANGE_STREAMS, len(ranges)))
    failed = threading.Event()

    def broken() -> bool:
        job.cancel.check()
        return failed.is_set()

    def write_on(chunk: memoryview, offset: int) -> None:  # every lane stops at its next chunk
        if broken():
            raise errors.TransferError(f"{remote.key}: the download broke off")
        write(chunk, offset)

    def fetch(byte_range: tuple[int, int], buffers: Buffers) -> Piece:
        if broken() or (ordered is not None and not ordered.admit(byte_range[0])):
            raise errors.TransferError(f"{remote.key}: the download broke off")
        also = ordered.add if ordered is not None else None
        crc = _get_range(job, remote, write_on, byte_range, buffers, progress, also)
        piece = byte_range[0], byte_range[1] - byte_range[0] + 1, crc
        partial.written(piece)
        return piece

    def stop() -> None:
        failed.set()
        if ordered is not None:
            ordered.abandon()

    def lane(mine: list[tuple[int, int]]) -> list[Piece]:
        buffers = _reused(CHUNK) if ordered is None else _fresh(ORDERED_CHUNK)
        try:
            return [fetch(byte_range, buffers) for byte_range in mine]
        except BaseException:
            stop()
            raise

    lanes = each(parts, lane, [ranges[i::streams] for i in range(streams)], stop)
    return [piece for pieces in lanes for piece in pieces]


Buffers = Callable[[], memoryview]  # the buffer to read the next chunk into


def _reused(size: int) -> Buffers:
    """One buffer, read into again and again: its chunks are done with once written."""
    buffer = memoryview(bytearray(size))
    return lambda: buffer


def _fresh(size: int) -> Buffers:
    """A new buffer for every chunk: an in-order hasher keeps chunks until it reaches them."""
    return lambda: memoryview(bytearray(size))


def range_size(size: int, part_size: int) -> int:
    """part_size, or up to four times that for a large object: each GET costs a few
    milliseconds of CPU in botocore, and a lane needs only a few ranges to stay busy."""
    return max(part_size, min(4 * part_size, size // (2 * RANGE_STREAMS)))


def _whole_crc(remote: RemoteObject, pieces: list[Piece]) -> int:
    """Combine the pieces' CRCs in offset order, checking they cover the object exactly."""
    crc, end = 0, 0
    for offset, length, piece_crc in sorted(pieces):
        if offset != end:
            raise errors.ChecksumMismatch(f"{remote.key}: the download has a gap or overlap")
        crc = combine_crc64nvme(crc, piece_crc, length) if end else piece_crc
        end += length
    if end != remote.size:
        raise errors.ChecksumMismatch(f"{remote.key}: received {end} B of {remote.size} B")
    return crc


def _get_range(
    job: Job,
    remote: RemoteObject,
    write: Write,
    byte_range: tuple[int, int],
    buffers: Buffers,
    progress: Progress,
    also: Callable[[int, memoryview], None] | None = None,
) -> int:
    """Write one range at its offset, read chunk by chunk into `buffers`; the CRC64NVME
    of its bytes. `also` gets each chunk too."""
    body = job.store.get_range(remote.key, remote.etag, byte_range)
    offset, crc = byte_range[0], 0
    with reading_body(remote.key):
        while n := body.readinto(buffer := buffers()):
            chunk = buffer[:n]
            write(chunk, offset)
            crc = crc64nvme(chunk, crc)
            if also is not None:
                also(offset, chunk)
            offset += n
            progress.advance(n)
    if offset != byte_range[1] + 1:
        raise errors.ChecksumMismatch(f"{remote.key}: a byte range came back short")
    return crc


@contextlib.contextmanager
def reading_body(key: str) -> Iterator[None]:
    """Reading a response body: a timeout or a cut connection here is worth a new try."""
    try:
        with translated(key):
            yield
    except errors.EndpointError as e:
        raise errors.TransferError(f"{key}: the download broke off ({e})") from e


def expected(job: Job, remote: RemoteObject, facts: RemoteFacts) -> tuple[str, str, str] | None:
    """The best value the server holds to check the bytes against, known before they come
    (for a multipart ETag, one HEAD of part 1 tells the part size)."""
    check = verification(remote.size, remote.etag, facts)
    if check is None and multipart_count(remote.etag) is not None:
        check = verification(remote.size, remote.etag, job.store.head(remote.key, part_number=1))
    return check


def verify(
    job: Job,
    remote: RemoteObject,
    check: tuple[str, str, str] | None,
    digests: dict[str, str],
    temp: Path,
) -> None:
    """Check the received bytes against the value `_expected` found."""
    if check is None:
        return  # nothing to check against (an SSE-KMS object with no checksum)
    name, expected, label = check
    if name not in digests:
        digests.update(hash_file(temp, {name}, job.cancel.check))
        job.stats.hashed(remote.size)
    if not matches(digests[name], expected):
        raise errors.ChecksumMismatch(
            f"{remote.key}: downloaded bytes do not match the object's {label}"
            f" (got {digests[name]}, expected {expected}); the old file was kept"
        )
