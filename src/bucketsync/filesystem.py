"""``bucketsync://bucket/key``: an fsspec filesystem over bucketsync's verified local cache.

pandas, xarray, dask and pyarrow take fsspec URLs; this filesystem gives them the
local copy `Mirror.path()` keeps (``<cache>/<endpoint host>/<bucket>/<key>``),
checked with at most one request (a conditional GET), none within `max_age`, and
guarded by the per-key locks shared by every process. Writing goes to the local
copy and is uploaded when the file is closed, as one key's push (verified,
conditional). `ls`, `info`, `find` and `glob` answer from listings; `get` is a
pull and `put` a push of the matching keys.

fsspec finds it through the ``fsspec.specs`` entry point of the package; fsspec
itself is the optional ``bucketsync[fsspec]`` extra.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from .errors import MissingDependency, ObjectNotFound, UsageError

try:
    from fsspec.spec import AbstractFileSystem
except ImportError:  # pragma: no cover - depends on what is installed
    raise MissingDependency(
        "the bucketsync:// filesystem needs fsspec: pip install 'bucketsync[fsspec]'"
    ) from None
try:
    from fsspec.implementations.chained import ChainedFileSystem as _Base
except ImportError:  # pragma: no cover - fsspec before 2025.10
    _Base = AbstractFileSystem

from . import api
from .cacheuse import open_held
from .fsparts import (
    Upload,
    add_folders,
    all_shared,
    file_entry,
    folder_entry,
    groups,
    listing_options,
    raise_failures,
    refuse_not_applicable,
    seconds,
    shared,
    split,
    target_options,
)
from .mirror import Mirror
from .stores.errors import translated
from .stores.s3 import S3Store

LISTINGS_EXPIRY = 10.0  # seconds a listing answers ls/info/find (content is checked apart)
REUSE_CHECK = 2.0  # seconds a check by this filesystem serves its further touches of a file
_S3_PREFIXES = ("s3://", "s3a://")


class BucketsyncFileSystem(_Base):  # type: ignore[misc]
    """S3 objects as their verified local copies: ``bucketsync://bucket/key``.

    Options (constructor arguments, or `storage_options`): `endpoint_url`,
    `profile`, `max_age` (seconds a copy checked that recently is used without a
    request), `offline` ("warn", "ignore", "error"), `max_size` (a cap on the cache
    folder, as for `Mirror`; a file open for reading is never removed), and the
    options of `sync()` that apply: jobs, compare, progress, follow_symlinks,
    connect_timeout, read_timeout, max_attempts, lock_timeout. `reuse_check` (default 2 s): a check
    of a file by this filesystem serves its further touches of that file for so
    long, because one library read touches a file several times (pyarrow: `info`,
    `isfile`, `open`, then `isfile` and `open` again); 0 checks on every touch.
    fsspec's `use_listings_cache`, `listings_expiry_time` (default 10 s here) and
    `max_paths` tune the listing cache of `ls`/`info`/`find`; file content is
    always checked apart.
    """

    protocol = ("bucketsync",)
    root_marker = ""
    local_file = True  # open() gives a real local file: fsspec.open_local works
    async_impl = False

    def __init__(
        self,
        endpoint_url: str | None = None,
        profile: str | None = None,
        max_age: float | None = None,
        offline: str = "warn",
        max_size: int | str | None = None,
        reuse_check: float = REUSE_CHECK,
        **options: Any,
    ) -> None:
        target = target_options(options)
        endpoint_url = endpoint_url or target.get("endpoint_url")
        profile = profile or target.get("profile")
        listing = listing_options(options)
        listing.setdefault("listings_expiry_time", LISTINGS_EXPIRY)
        super().__init__(**listing)
        refuse_not_applicable(options)
        settings = {"endpoint_url": endpoint_url, "profile": profile, **options}
        settings["max_size"] = max_size
        self._options = {k: v for k, v in settings.items() if v is not None}
        given = {**self._options, "max_age": max_age, "offline": offline}
        check = Mirror("s3://bucketsync-options/", **given)  # checks every option
        self.max_age, self.offline = check.max_age, check.offline
        self._collecting = threading.local()
        self.reuse_check = seconds("reuse_check", reuse_check)
        self._checked: dict[str, float] = {}
        self._checked_lock = threading.Lock()

    # ---- paths -----------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = str(path)
        for prefix in _S3_PREFIXES:
            if text.startswith(prefix):
                text = text[len(prefix) :]
        stripped = super()._strip_protocol(text)
        return str(stripped).lstrip("/")

    def _mirror(self, bucket: str) -> Mirror:
        return shared(bucket, self.max_age, self.offline, self._options).mirror

    def _store(self, bucket: str) -> S3Store:
        return shared(bucket, self.max_age, self.offline, self._options).store

    @property
    def requests(self) -> dict[str, int]:
        """HTTP requests this process sent through filesystems with these options, by kind.

        The content checks (`open`, `info`, `cat`, `open_local`) and the listings.
        """
        total: dict[str, int] = {}
        for clients in all_shared(self.max_age, self.offline, self._options):
            for counts in (clients.mirror.requests, clients.stats.requests.as_dict()):
                for kind, n in counts.items():
                    total[kind] = total.get(kind, 0) + n
        return total

    def local_path(self, path: str) -> Path:
        """The verified local copy of path (one request at most; none within `max_age`)."""
        path = self._strip_protocol(path)
        bucket, key = split(path)
        if not key:
            raise IsADirectoryError(f"bucketsync://{path}: a bucket, not an object")
        mirror = self._mirror(bucket)
        if self._recently_checked(path):
            recent = mirror.local / key
            if recent.is_file():  # a copy removed since its check is fetched again
                return recent
        local = mirror.path(key)
        with self._checked_lock:
            self._checked[path] = time.monotonic()
        return local

    def _recently_checked(self, path: str) -> bool:
        """True if this filesystem checked path less than `reuse_check` seconds ago."""
        with self._checked_lock:
            at = self._checked.get(path)
            if len(self._checked) > 10_000:
                self._checked.clear()
        return at is not None and time.monotonic() - at < self.reuse_check

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget the listings and recent checks of path, what is below it and its
        parents' listings (all of them if None): a write or a put changed them."""
        super().invalidate_cache(path)
        if path is None:
            self.dircache.clear()
            with self._checked_lock:
                self._checked.clear()
            return
        path = self._strip_protocol(path).rstrip("/")
        below = [p for p in self.dircache if p == path or p.startswith(path + "/")]
        parents = [p for p in self.dircache if path.startswith(p.rstrip("/") + "/")]
        for p in below + parents:
            self.dircache.pop(p, None)
        with self._checked_lock:
            for p in [p for p in self._checked if p == path or p.startswith(path + "/")]:
                del self._checked[p]

    # ---- reading and writing ---------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Any = None,
        autocommit: bool = True,
        cache_options: Any = None,
        **kwargs: Any,
    ) -> IO[bytes]:
        path = self._strip_protocol(path)
        if mode == "rb":  # held open: the bounded cache leaves it until closed
            return cast(IO[bytes], open_held(lambda: self.local_path(path), "rb"))
        if mode not in ("wb", "ab"):
            raise UsageError(f"mode must be 'rb', 'wb' or 'ab', not {mode!r}")
        if not autocommit:
            raise UsageError("transactions are not supported: a file is uploaded when closed")
        bucket, key = split(path)
        if not key:
            raise IsADirectoryError(f"{path}: a bucket, not an object")
        mirror = self._mirror(bucket)
        upload = Upload(mirror.open(key, mode), lambda: self._uploaded(mirror, bucket, key))
        return cast(IO[bytes], upload)

    def _uploaded(self, mirror: Mirror, bucket: str, key: str) -> None:
        mirror.push_key(key)
        self.invalidate_cache(f"{bucket}/{key}")

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        with self._open(path, "rb") as f:
            if start is not None:
                f.seek(start, os.SEEK_SET if start >= 0 else os.SEEK_END)
            if end is None:
                return f.read()
            if end < 0:
                end = f.seek(0, os.SEEK_END) + end
            return f.read(max(0, end - f.tell()))

    # ---- listings ----------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        entries = self._ls_from_cache(path) if kwargs.get("refresh") is not True else None
        if entries is None:
            entries = self._list(path)
            if path:
                self.dircache[path] = entries
        return entries if detail else sorted(e["name"] for e in entries)

    def _list(self, path: str) -> list[dict[str, Any]]:
        bucket, key = split(path)
        if not bucket:
            return self._buckets()
        prefix = f"{key}/" if key else ""
        entries = list(self._listing(bucket, prefix, delimiter=True))
        if entries or not key:
            if not entries:
                self._store(bucket).check_bucket()
            return entries
        found = self._stat_file(bucket, key)
        if found is None:
            raise FileNotFoundError(f"bucketsync://{path}: no such object or folder")
        return [found]

    def _buckets(self) -> list[dict[str, Any]]:
        with translated("listing the buckets"):
            answer = self._store("bucketsync-options").client.list_buckets()
        return [folder_entry(b["Name"]) for b in answer.get("Buckets", ())]

    def _listing(self, bucket: str, prefix: str, *, delimiter: bool) -> Iterator[dict[str, Any]]:
        """One listing below prefix: files (and folders, with the delimiter)."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        paginator = self._store(bucket).client.get_paginator("list_objects_v2")
        with translated(f"s3://{bucket}/{prefix}"):
            for page in paginator.paginate(**kwargs):
                for common in page.get("CommonPrefixes", ()):
                    yield folder_entry(f"{bucket}/{common['Prefix'].rstrip('/')}")
                for item in page.get("Contents", ()):
                    if item["Key"] != prefix:  # a "folder/" marker object
                        yield file_entry(bucket, item)

    def _stat_file(self, bucket: str, key: str) -> dict[str, Any] | None:
        with translated(f"s3://{bucket}/{key}"):
            page = self._store(bucket).client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        items = [i for i in page.get("Contents", ()) if i["Key"] == key]
        return file_entry(bucket, items[0]) if items else None

    def _is_folder(self, bucket: str, key: str) -> bool:
        if not key:
            self._store(bucket).check_bucket()
            return True
        with translated(f"s3://{bucket}/{key}/"):
            page = self._store(bucket).client.list_objects_v2(
                Bucket=bucket, Prefix=f"{key}/", MaxKeys=1
            )
        return bool(page.get("KeyCount") or page.get("Contents"))

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """A file's entry (from a recent listing, else from its checked local copy), or a folder's.

        Without a recent listing, the file's copy is checked (and fetched) as `open()`
        would; that check serves this filesystem's next `reuse_check` seconds.
        """
        path = self._strip_protocol(path)
        bucket, key = split(path)
        if not key:
            if bucket:
                self._store(bucket).check_bucket()
            return folder_entry(path)
        listed = self._from_listing(path)
        if listed is not None:
            return listed
        try:
            local = self.local_path(path)
        except ObjectNotFound:
            if self._is_folder(bucket, key):
                return folder_entry(path)
            raise FileNotFoundError(f"bucketsync://{path}: no such object or folder") from None
        return {"name": path, "size": local.stat().st_size, "type": "file"}

    def _from_listing(self, path: str) -> dict[str, Any] | None:
        parent = self._parent(path)
        for entry in self._ls_from_cache(parent) or ():
            if entry["name"] == path:
                return dict(entry)
        if path in self.dircache:
            return folder_entry(path)
        return None

    def exists(self, path: str, **kwargs: Any) -> bool:
        """From listings: no object is downloaded to tell."""
        path = self._strip_protocol(path)
        bucket, key = split(path)
        if self._from_listing(path) is not None:
            return True
        try:
            if not key:
                return bool(bucket) and self._is_folder(bucket, "")
            return self._stat_file(bucket, key) is not None or self._is_folder(bucket, key)
        except FileNotFoundError:
            return False

    def isdir(self, path: str) -> bool:
        path = self._strip_protocol(path)
        listed = self._from_listing(path)
        if listed is not None:
            return bool(listed["type"] == "directory")
        try:
            return self._is_folder(*split(path))
        except FileNotFoundError:
            return False

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Everything below path from one recursive listing (a delimited one for depth 1)."""
        path = self._strip_protocol(path)
        if not split(path)[0]:
            return super().find(path, maxdepth, withdirs, detail, **kwargs)
        if maxdepth == 1:
            found = self._children(path, withdirs)
        else:
            found = self._below(path, maxdepth, withdirs)
        names = sorted(found)
        return {n: found[n] for n in names} if detail else names

    def _children(self, path: str, withdirs: bool) -> dict[str, dict[str, Any]]:
        """find() to depth 1: one delimited listing, kept in the listing cache."""
        try:
            entries = self.ls(path, detail=True)
        except FileNotFoundError:
            return {}
        kinds = ("file", "directory") if withdirs else ("file",)
        return {e["name"]: e for e in entries if e["type"] in kinds}

    def _below(self, path: str, maxdepth: int | None, withdirs: bool) -> dict[str, dict[str, Any]]:
        """find() from one recursive listing, which fills the listing cache if complete."""
        bucket, key = split(path)
        prefix = f"{key}/" if key else ""
        found: dict[str, dict[str, Any]] = {}
        for entry in self._listing(bucket, prefix, delimiter=False):
            depth = entry["name"][len(path) :].count("/")
            if maxdepth is None or depth <= maxdepth:
                found[entry["name"]] = entry
            if withdirs:
                add_folders(found, path, entry["name"], maxdepth)
        if not found and key:
            single = self._stat_file(bucket, key)
            if single is not None:
                found[path] = single
        if maxdepth is None and found:
            self._remember_tree(path, [e for e in found.values() if e["type"] == "file"])
        return found

    def _remember_tree(self, root: str, files: list[dict[str, Any]]) -> None:
        """Fill the listing cache of every folder below root from one complete listing."""
        children: dict[str, dict[str, dict[str, Any]]] = {root: {}}
        for entry in files:
            name = entry["name"]
            parent = self._parent(name)
            children.setdefault(parent, {})[name] = entry
            while parent != root and len(parent) > len(root):
                grand = self._parent(parent)
                children.setdefault(grand, {})[parent] = folder_entry(parent)
                parent = grand
        for folder, entries in children.items():
            if folder.startswith(root) and "/" in folder:
                self.dircache[folder] = list(entries.values())

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """S3 has no folders: nothing to do."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """S3 has no folders: nothing to do."""

    # ---- get and put: a pull and a push ---------------------------------------------

    def get(self, rpath: Any, lpath: Any, recursive: bool = False, **kwargs: Any) -> None:
        """A pull of the matching keys into lpath: verified downloads of what differs."""
        for remote, local, rels in groups(
            self._collect(super().get, rpath, lpath, recursive, **kwargs)
        ):
            if not remote:  # a copy under another name
                self._copy_out(rels[0], local)
            elif len(rels) == 1:
                with Mirror(f"s3://{remote}/", local, **self._mirror_options()) as mirror:
                    mirror._pull_key(rels[0])  # the source wins, as in a sync
            else:
                Path(local).mkdir(parents=True, exist_ok=True)
                raise_failures(api.sync(f"s3://{remote}/", local, **self._filters(rels)))

    def put(self, lpath: Any, rpath: Any, recursive: bool = False, **kwargs: Any) -> None:
        """A push of the matching local files: verified, conditional uploads of what differs."""
        for remote, local, rels in groups(
            self._collect(super().put, lpath, rpath, recursive, **kwargs)
        ):
            if not remote:  # a copy under another name
                self._copy_in(local, rels[0])
            elif len(rels) == 1:
                with Mirror(f"s3://{remote}/", local, **self._mirror_options()) as mirror:
                    mirror.push_key(rels[0])
            else:
                raise_failures(api.sync(local, f"s3://{remote}/", **self._filters(rels)))
            self.invalidate_cache(remote or self._strip_protocol(rels[0]))

    def get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        pairs = self._pairs()
        if pairs is None:
            self._copy_out(self._strip_protocol(rpath), os.fspath(lpath))
        else:  # fsspec dropped folders already, or listed them for a recursive get
            listed = self._from_listing(self._strip_protocol(rpath))
            if listed is None or listed["type"] == "file":
                pairs.append((self._strip_protocol(rpath), os.fspath(lpath)))

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        pairs = self._pairs()
        if os.path.isdir(lpath):
            return
        if pairs is None:
            self._copy_in(os.fspath(lpath), self._strip_protocol(rpath))
        else:
            pairs.append((self._strip_protocol(rpath), os.fspath(lpath)))

    def _copy_out(self, rpath: str, lpath: str) -> None:
        target = Path(lpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.local_path(rpath), target)

    def _copy_in(self, lpath: str, rpath: str) -> None:
        with open(lpath, "rb") as source, self.open(rpath, "wb") as target:
            shutil.copyfileobj(source, target)

    def _pairs(self) -> list[tuple[str, str]] | None:
        pairs: list[tuple[str, str]] | None = getattr(self._collecting, "pairs", None)
        return pairs

    def _collect(self, method: Any, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        """The (remote, local) pairs fsspec's get/put decide on, moving nothing yet."""
        pairs: list[tuple[str, str]] = []
        self._collecting.pairs = pairs
        try:
            method(*args, **kwargs)
        finally:
            self._collecting.pairs = None
        return pairs

    def _mirror_options(self) -> dict[str, Any]:
        return {**self._options, "max_age": self.max_age, "offline": self.offline}

    def _filters(self, rels: list[str]) -> dict[str, Any]:
        """Options for a sync of exactly these relative paths."""
        patterns = [re.sub(r"([*?\[])", r"[\1]", rel) for rel in rels]
        rules = [("exclude", "*"), *(("include", p) for p in patterns)]
        options = {k: v for k, v in self._options.items() if k != "max_size"}
        return {**options, "filter_rules": rules}
