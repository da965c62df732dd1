"""Content digests: CRC64NVME, MD5, S3 multipart ETags and composite checksums.

A digest is named by a string, so a caller can ask for several and get them all
from one read of the file:

- ``crc64nvme``, ``crc32``, ``crc32c``, ``sha1``, ``sha256``: base64 of the
  big-endian value, as S3 writes its checksum headers;
- ``md5``: hex, as in a single-part ETag;
- ``etag:PART``: the multipart ETag (``hex-N``) of PART-byte parts;
- ``ALG:PART`` (``crc32:8388608``...): the composite checksum (``b64-N``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from .stores.local import open_regular

READ_SIZE = 8 * 1024 * 1024
_CRCS = {"crc64nvme": 8, "crc32": 4, "crc32c": 4}  # awscrt's functions, and their widths
_SHAS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
FULL_OBJECT_ALGORITHMS = ("crc64nvme", "crc32c", "crc32", "sha256", "sha1")


class _Running(Protocol):
    def update(self, data: memoryview) -> None: ...
    def digest(self) -> bytes: ...
    def value(self) -> str: ...


class _Crc:
    def __init__(self, algorithm: str) -> None:
        from awscrt import checksums  # not at start-up: a no-change sync hashes nothing

        self._fn: Callable[[bytes | memoryview, int], int] = getattr(checksums, algorithm)
        self._width = _CRCS[algorithm]
        self._crc = 0

    def update(self, data: memoryview) -> None:
        self._crc = self._fn(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(self._width, "big")

    def value(self) -> str:
        return b64(self.digest())


class _Hashlib:
    def __init__(self, algorithm: str) -> None:
        self._algorithm = algorithm
        self._h = hashlib.md5() if algorithm == "md5" else _SHAS[algorithm]()

    def update(self, data: memoryview) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.digest()

    def value(self) -> str:
        return self._h.hexdigest() if self._algorithm == "md5" else b64(self._h.digest())


class _Parts:
    """Digest of each PART-byte part, combined as S3 combines them (ETag or composite)."""

    def __init__(self, algorithm: str, part_size: int) -> None:
        self._algorithm, self._part_size = algorithm, part_size
        self._current: _Running = _single(algorithm)
        self._filled = 0
        self._digests: list[bytes] = []

    def update(self, data: memoryview) -> None:
        while len(data):
            take = min(len(data), self._part_size - self._filled)
            self._current.update(data[:take])
            self._filled += take
            data = data[take:]
            if self._filled == self._part_size:
                self._close_part()

    def _close_part(self) -> None:
        self._digests.append(self._current.digest())
        self._current, self._filled = _single(self._algorithm), 0

    def digest(self) -> bytes:
        if self._filled or not self._digests:
            self._close_part()
        outer = _single(self._algorithm)
        outer.update(memoryview(b"".join(self._digests)))
        return outer.digest()

    def value(self) -> str:
        combined = self.digest()
        shown = combined.hex() if self._algorithm == "md5" else b64(combined)
        return f"{shown}-{len(self._digests)}"


def _single(algorithm: str) -> _Running:
    return _Crc(algorithm) if algorithm in _CRCS else _Hashlib(algorithm)


def _running(name: str) -> _Running:
    algorithm, _, part = name.partition(":")
    if algorithm == "etag":
        algorithm = "md5"
    if algorithm not in _CRCS and algorithm not in _SHAS and algorithm != "md5":
        raise ValueError(f"unknown digest {name!r}")
    return _Parts(algorithm, int(part)) if part else _single(algorithm)


class Hasher:
    """Several digests fed from one stream of bytes."""

    def __init__(self, names: Iterable[str]) -> None:
        self._running = {name: _running(name) for name in set(names)}
        self.bytes = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        self.bytes += len(view)
        for running in self._running.values():
            running.update(view)

    def values(self) -> dict[str, str]:
        return {name: running.value() for name, running in self._running.items()}


class InOrderHasher:
    """A Hasher fed by parallel byte ranges that arrive in any order.

    MD5, SHA and multipart ETags must see the bytes in order. Receivers hand over
    their chunks and go back to the network; one thread of its own hashes them in
    order (hashlib releases the GIL, so it runs beside them). A range may begin only
    within `window` bytes of the next byte to hash, which bounds the memory held.
    Use it as a context manager: leaving it waits for the hashing to finish, or,
    on an error, releases the ranges still waiting to begin.
    """

    def __init__(self, names: Iterable[str], window: int) -> None:
        self._hasher = Hasher(names)
        self._window = window
        self._next = 0
        self._waiting: dict[int, bytes | memoryview] = {}
        self._admitting: list[int] = []  # starts of the ranges waiting to begin
        self._done = self._abandoned = False
        self._turn = threading.Condition()
        self._thread = threading.Thread(target=self._hash, name="bucketsync-hash", daemon=True)

    def __enter__(self) -> InOrderHasher:
        self._thread.start()
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        with self._turn:
            if kind is None:
                self._done = True
            else:
                self.abandon()
            self._turn.notify_all()
        self._thread.join()

    def admit(self, start: int) -> bool:
        """Wait until a range starting at `start` may begin; False once abandoned."""
        with self._turn:
            self._admitting.append(start)
            self._turn.wait_for(lambda: self._abandoned or start - self._next < self._window)
            self._admitting.remove(start)
            return not self._abandoned

    def add(self, offset: int, chunk: bytes | memoryview) -> None:
        """Hand over the bytes at offset; they must not change until hashed."""
        with self._turn:
            self._waiting[offset] = chunk
            if offset == self._next:
                self._turn.notify_all()

    def abandon(self) -> None:
        with self._turn:
            self._abandoned = True
            self._waiting.clear()
            self._turn.notify_all()

    def _hash(self) -> None:
        while True:
            with self._turn:
                self._turn.wait_for(
                    lambda: self._next in self._waiting or self._done or self._abandoned
                )
                chunk = self._waiting.pop(self._next, None)
                if chunk is None or self._abandoned:
                    return
            self._hasher.update(chunk)
            with self._turn:
                self._next += len(chunk)
                if self._admitting and min(self._admitting) - self._next < self._window:
                    self._turn.notify_all()

    @property
    def bytes(self) -> int:
        return self._hasher.bytes

    def values(self) -> dict[str, str]:
        return self._hasher.values()


def hash_file(
    path: str | os.PathLike[str],
    names: Iterable[str],
    check: Callable[[], None] | None = None,
    *,
    follow_symlinks: bool = False,
) -> dict[str, str]:
    """Read a regular file once and return the digests asked for; `check()`, run after
    each read, may raise to stop (an interrupted sync).

    The read buffer is sized to the file (up to READ_SIZE): allocating 8 MiB to hash
    a 1 KiB file cost more than the hashing.
    """
    hasher = Hasher(names)
    with open(open_regular(path, follow_symlinks=follow_symlinks), "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        buffer = bytearray(min(READ_SIZE, size + 1))  # +1: the end shows in one read
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            hasher.update(view[:n])
            if check is not None:
                check()
    return hasher.values()


def crc64nvme(data: bytes | memoryview, previous: int = 0) -> int:
    from awscrt import checksums

    return int(checksums.crc64nvme(data, previous))


def combine_crc64nvme(first: int, second: int, second_length: int) -> int:
    """The CRC64NVME of two blocks back to back, from the blocks' own CRCs."""
    from awscrt import checksums

    return int(checksums.combine_crc64nvme(first, second, second_length))


def crc64_text(crc: int) -> str:
    """A CRC64NVME as S3 writes it: base64 of the 8 big-endian bytes."""
    return b64(crc.to_bytes(8, "big"))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def is_plain_md5(etag: str) -> bool:
    """True for a 32-hex ETag, which is the MD5 unless SSE-KMS or SSE-C was used."""
    return len(etag) == 32 and all(c in "0123456789abcdefABCDEF" for c in etag)


def multipart_count(value: str) -> int | None:
    """N of a multipart ETag or composite checksum ``...-N``, else None."""
    head, sep, tail = value.rpartition("-")
    return int(tail) if sep and head and tail.isdigit() else None


def part_sizes_fit(size: int, part_size: int, parts: int) -> bool:
    """True when `parts` equal parts of `part_size` (the last one shorter) make `size`."""
    return part_size > 0 and parts == max(1, -(-size // part_size))
