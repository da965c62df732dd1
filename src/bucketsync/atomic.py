"""Files written under a temporary name and renamed into place when closed."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .stores.local import claim_temp, keep_mode, open_regular, prepare_parent, release_temp


class AtomicFile:
    """A file open for writing whose content appears at `path` only once it is closed.

    Readers see the old file or the new one, never a part. Leaving a ``with`` block
    by an exception discards what was written. `seed` starts from a copy of a file
    (for append modes). A new file gets the umask's mode without execute bits; one
    that replaces a file keeps that file's mode.
    """

    def __init__(
        self, root: Path, path: Path, mode: str, seed: Path | None = None, **kwargs: Any
    ) -> None:
        self._done = True
        prepare_parent(root, path)
        self.path = path
        self._temp, self._lock = claim_temp(path)  # locked: walks leave it alone
        try:
            if seed is not None:
                _copy_into(seed, self._lock)
            # Written through the claimed descriptor, which stays open to hold the lock.
            self._file: IO[Any] = open(self._lock, mode, closefd=False, **kwargs)  # noqa: SIM115
        except BaseException:
            release_temp(self._temp, self._lock)
            raise
        self._done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def write(self, data: Any) -> int:
        return self._file.write(data)

    def close(self) -> None:
        """Close the file and rename it into place."""
        if self._done:
            return
        self._done = True
        try:
            self._file.close()
            keep_mode(self._lock, self.path)
            os.replace(self._temp, self.path)
        finally:
            release_temp(self._temp, self._lock)

    def discard(self) -> None:
        """Close the file and throw away what was written."""
        if self._done:
            return
        self._done = True
        self._file.close()
        release_temp(self._temp, self._lock)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def __del__(self) -> None:
        # Like a built-in file left open: its content lands when it is collected.
        if not getattr(self, "_done", True):
            with contextlib.suppress(OSError):
                self.close()

    def __repr__(self) -> str:
        return f"<AtomicFile {str(self.path)!r} via {self._temp.name!r}>"


def _copy_into(seed: Path, fd: int) -> None:
    """Copy the regular file seed to fd's position (refusing a FIFO, which would hang)."""
    with open(open_regular(seed), "rb") as source, open(fd, "wb", closefd=False) as out:
        shutil.copyfileobj(source, out)
