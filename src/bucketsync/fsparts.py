"""The parts of the bucketsync:// filesystem that do not need fsspec.

Files uploaded when closed, the per-bucket clients shared by every instance, the
listing entries, the options, and how `get`/`put` pairs become one pull or push.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from . import api
from .errors import TransferError, UsageError
from .mirror import Mirror
from .options import MAX_DELETE, WAIT, Check, shown
from .report import Report, Stats

# sync options that make no sense for single files, or that get/put decide themselves
NOT_APPLICABLE = ("delete", "dry_run", "include", "exclude", "filter_rules")
# fsspec's own options, for its listing cache; the rest are bucketsync's.
FSSPEC_OPTIONS = ("use_listings_cache", "listings_expiry_time", "max_paths")
LISTING_OPTIONS: dict[str, Check[Any]] = {
    "listings_expiry_time": Check(WAIT.allowed, WAIT.convert, none="never expire"),
    "max_paths": Check("an integer >= 0", MAX_DELETE.convert, none="no limit"),
}


class Upload:
    """A file open for writing whose content is uploaded once it is closed."""

    def __init__(self, file: IO[Any], upload: Any) -> None:
        self._file = file
        self._upload = upload
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def write(self, data: Any) -> int:
        return int(self._file.write(data))

    @property
    def closed(self) -> bool:
        return self._closed

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._file.close()
        self._upload()

    def discard(self) -> None:
        self._closed = True
        discard = getattr(self._file, "discard", self._file.close)
        discard()

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


# ---- shared clients: one Mirror and one listing store per bucket and options ------


class Shared:
    def __init__(self, bucket: str, max_age: float | None, offline: str, options: dict[str, Any]):
        given = {**options, "max_age": max_age, "offline": offline}
        self.mirror = Mirror(f"s3://{bucket}/", **given)
        self.stats = Stats()
        location = self.mirror.location
        sync_options = {k: v for k, v in options.items() if k != "max_size"}
        self.store = api.make_store(location, api._options(sync_options), self.stats)


_SHARED: dict[tuple[str, str], Shared] = {}
_SHARED_LOCK = threading.Lock()


def _settings_key(max_age: float | None, offline: str, options: dict[str, Any]) -> str:
    env = tuple(
        os.environ.get(n)
        for n in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "BUCKETSYNC_CACHE_DIR", "BUCKETSYNC_STATE_DIR")
    )
    return repr((max_age, offline, sorted(options.items()), env))


def shared(bucket: str, max_age: float | None, offline: str, options: dict[str, Any]) -> Shared:
    """A Mirror and a store for bucket, made once per process (a client takes ~0.1 s)."""
    key = (bucket, _settings_key(max_age, offline, options))
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is None:
            shared = _SHARED[key] = Shared(bucket, max_age, offline, options)
        return shared


def all_shared(max_age: float | None, offline: str, options: dict[str, Any]) -> list[Shared]:
    settings = _settings_key(max_age, offline, options)
    with _SHARED_LOCK:
        return [s for (_, k), s in _SHARED.items() if k == settings]


# ---- helpers --------------------------------------------------------------------


def split(path: str) -> tuple[str, str]:
    bucket, _, key = path.strip("/").partition("/")
    return bucket, key


def folder_entry(name: str) -> dict[str, Any]:
    return {"name": name, "size": 0, "type": "directory"}


def file_entry(bucket: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"{bucket}/{item['Key']}",
        "size": int(item["Size"]),
        "type": "file",
        "ETag": str(item.get("ETag", "")).strip('"'),
        "LastModified": item.get("LastModified"),
    }


def add_folders(
    found: dict[str, dict[str, Any]], root: str, name: str, maxdepth: int | None
) -> None:
    parts = name[len(root) :].strip("/").split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        if maxdepth is not None and depth > maxdepth:
            break
        folder = "/".join([root, *parts[:depth]]) if root else "/".join(parts[:depth])
        found.setdefault(folder, folder_entry(folder))


def target_options(options: dict[str, Any]) -> dict[str, Any]:
    """The endpoint and profile of a chained ``bucketsync::s3://`` URL's s3fs options."""
    protocol = options.pop("target_protocol", None)
    target = _mapping("target_options", options.pop("target_options", None))
    options.pop("fo", None)
    if protocol is None:
        return {}
    if protocol not in ("s3", "s3a"):
        raise UsageError(f"bucketsync:: chains only onto s3://, not {protocol}://")
    client = _mapping("client_kwargs", target.get("client_kwargs"))
    endpoint = target.get("endpoint_url") or client.get("endpoint_url")
    return {"endpoint_url": endpoint, "profile": target.get("profile")}


def _mapping(name: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(f"{name} must be a dict of s3fs options, not {shown(value)}")
    return value


def seconds(name: str, value: Any) -> float:
    try:
        return WAIT.convert(value)  # finite, >= 0
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{name} must be a number of seconds >= 0, not {value!r}") from None


def listing_options(options: dict[str, Any]) -> dict[str, Any]:
    """fsspec's listing-cache options, taken out of options and checked."""
    listing = {name: options.pop(name) for name in FSSPEC_OPTIONS if name in options}
    for name, check in LISTING_OPTIONS.items():
        if name in listing:
            check(name, listing[name])
    return listing


def refuse_not_applicable(options: dict[str, Any]) -> None:
    for name in NOT_APPLICABLE:
        if name in options:
            raise UsageError(
                f"option {name!r} does not apply to the bucketsync filesystem "
                "(use bucketsync.sync() for whole-prefix syncs)"
            )


def groups(pairs: list[tuple[str, str]]) -> Iterator[tuple[str, str, list[str]]]:
    """(remote folder, local folder, relative paths): one pull or push for all the pairs.

    The local folder is the deepest one holding every local path, so a sync never
    walks above what was asked. A copy under another name comes alone, as
    ("", local path, [remote path]); pairs that do not share one layout (fsspec's
    flattened lists) come one by one.
    """
    named = [(r, os.path.abspath(lo)) for r, lo in pairs if _name(r) == _name(lo)]
    for remote, local in pairs:
        if _name(remote) != _name(local):
            yield "", local, [remote]
    if not named:
        return
    root = os.path.commonpath([os.path.dirname(lo) for _, lo in named])
    rels = [Path(os.path.relpath(lo, root)).as_posix() for _, lo in named]
    remotes = {r[: -len(rel) - 1] for (r, _), rel in zip(named, rels, strict=True)}
    if len(remotes) == 1 and all(
        r.endswith("/" + rel) for (r, _), rel in zip(named, rels, strict=True)
    ):
        yield remotes.pop(), root, rels
        return
    for remote, local in named:
        yield remote.rpartition("/")[0], os.path.dirname(local), [_name(remote)]


def _name(path: str) -> str:
    return path.replace(os.sep, "/").rstrip("/").rpartition("/")[2]


def raise_failures(report: Report) -> None:
    if report.errors:
        first = report.errors[0]
        raise TransferError(
            f"{len(report.errors)} file(s) failed; first: {first.path}: {first.error}"
        )
