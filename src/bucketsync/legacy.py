"""`LocalObjectCache`: the origin notebook's class, kept working as a thin layer on `Mirror`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from . import cleanup
from .atomic import AtomicFile
from .cleanup import Cleared
from .hashing import Hasher
from .location import parse_s3_url
from .mirror import Mirror
from .report import Report
from .stores.local import open_regular, target_path

ETAG_PART_SIZE = 8 * 1024 * 1024


class LocalObjectCache:
    """A local cache of an S3 bucket prefix, with the origin notebook's methods.

    Fixed here, compared with the notebook:

    - `download_obj()` asks the server (one conditional GET) whether the copy is
      current, instead of comparing a tag with an ETag computed from 8 MiB parts
      (wrong for other part sizes, SSE-KMS objects and objects with extra
      checksums) by re-hashing the whole file on every call; `tag` is ignored.
    - `get_path()` no longer joins the prefix twice: keys work with or without it.
    - `upload_obj()` keeps the file's folders below the cache in its key (it used to
      flatten every key to the file name) and compares with the bucket, not with
      the cache's copy; the file is copied into the cache.
    - Downloads are verified and land atomically (temporary file, then rename);
      `sync()` uses threads, so the `counter` of downloads is right.
    - `calculate_s3_etag()` matches boto3 for an empty file and one of exactly 8 MiB.
    - `set_bucket()` returns the bucket name, or switches to another bucket.

    `options` are as for `Mirror` (endpoint_url, profile, max_age, ...).
    """

    counter = 0  # downloads by every instance in this process, as the notebook counted

    def __init__(
        self, bucket_name: str, prefix: str = "", path: str | None = None, **options: Any
    ) -> None:
        self.bucket_name = bucket_name
        self.prefix = prefix
        self._given_path = path
        self._options = options
        location = parse_s3_url(f"s3://{bucket_name}/{prefix}")
        self._prefix = location.prefix
        folders = self._prefix.split("/")[:-1]
        local = None if path is None else Path(path).joinpath(*folders)
        self._mirror = Mirror(str(location), local, **options)
        if path is None:
            folder = self._mirror.local
            for _ in folders:
                folder = folder.parent
            path = str(folder) + os.sep
        self.path = path
        os.makedirs(self.path, exist_ok=True)

    def get_path(self, key: str) -> str:
        """The local path of a key, given with or without the prefix (downloads nothing)."""
        return str(target_path(self._mirror.local, self._rel(key)))

    def download_obj(self, key: str, tag: str | None = None) -> str:
        """Download the object unless the cached copy is current; its local path."""
        before = self._mirror.downloads
        path = self._mirror.path(self._rel(key))
        LocalObjectCache.counter += self._mirror.downloads - before
        return str(path)

    def upload_obj(self, path: str | os.PathLike[str], key: str | None = None) -> str | None:
        """Upload a file unless the bucket holds the same content; its quoted ETag, or None.

        The key is `key` (with or without the prefix), else the file's path below the
        cache folder, else the prefix and the file's name.
        """
        source = Path(path).absolute()
        rel = self._rel(key) if key is not None else self._upload_rel(source)
        target = target_path(self._mirror.local, rel)
        if not target.exists() or not os.path.samefile(source, target):
            source_fd = open_regular(source, follow_symlinks=True)  # a FIFO would hang
            with open(source_fd, "rb") as f, AtomicFile(self._mirror.local, target, "wb") as out:
                shutil.copyfileobj(f, out)
        etag = self._mirror._push_key(rel)
        return f'"{etag}"' if etag else None

    def sync(self) -> Report:
        """Download every object below the prefix whose content differs from its copy."""
        report = self._mirror.pull()
        LocalObjectCache.counter += report.downloaded
        return report

    _get_obj = download_obj  # the notebook's benchmark called these directly
    _set_obj = upload_obj

    @staticmethod
    def calculate_s3_etag(
        file: IO[bytes] | str | os.PathLike[str], chunk_size: int = ETAG_PART_SIZE
    ) -> str:
        """The quoted ETag of a file uploaded as boto3's `upload_file` does by default.

        That is the plain MD5 below `chunk_size`, else the multipart ETag of
        `chunk_size` parts. Other uploaders choose other part sizes: bucketsync
        itself compares content without this guess.
        """
        if isinstance(file, str | os.PathLike):
            with open(file, "rb") as f:
                return LocalObjectCache.calculate_s3_etag(f, chunk_size)
        parts = f"etag:{chunk_size}"
        hasher = Hasher({"md5", parts})
        while data := file.read(chunk_size):
            hasher.update(data)
        values = hasher.values()
        return f'"{values["md5"] if hasher.bytes < chunk_size else values[parts]}"'

    def set_bucket(self, bucket: str | None = None) -> str:
        """The bucket's name; given a name, switch to that bucket (same prefix)."""
        if bucket is not None and bucket != self.bucket_name:
            self._mirror.close()
            self.__init__(bucket, self.prefix, self._given_path, **self._options)  # type: ignore[misc]
        return self.bucket_name

    def close(self, *, force: bool = False) -> Cleared:
        """Delete the cache's copies of the prefix's objects, as the notebook did.

        As `Mirror.clear()`: only copies still as synced go (local changes too with
        ``force=True``); other files, such as other prefixes' copies, stay.
        Folders go once emptied, up to the cache folder.
        """
        return self._close(force)

    def _close(self, force: bool) -> Cleared:
        cleared = self._mirror._clear(force, what="close()")
        cleared = cleanup.prune(cleared, self._mirror.local, Path(self.path).absolute())
        self._mirror.close()
        return cleared

    def __enter__(self) -> LocalObjectCache:
        """Open without syncing; on exit the prefix's copies are deleted, as by `close()`."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(False)

    def _rel(self, key: str) -> str:
        key = os.fspath(key)
        return key[len(self._prefix) :] if self._prefix and key.startswith(self._prefix) else key

    def _upload_rel(self, source: Path) -> str:
        root = self._mirror.local.resolve()
        resolved = source.resolve()
        if resolved.is_relative_to(root):
            return resolved.relative_to(root).as_posix()
        return source.name

    def __repr__(self) -> str:
        return f"LocalObjectCache({self.bucket_name!r}, {self.prefix!r}, path={self.path!r})"
