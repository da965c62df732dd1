"""Lockfiles: a pin of exactly which objects (and versions) an S3 prefix held.

The format is JSON, made to be committed next to a notebook and read in a diff::

    {
     "format": "bucketsync-lock/1",
     "bucket": "lab", "prefix": "datasets/eod/", "endpoint": "s3.amazonaws.com",
     "created": "2026-12-03T22:30:00.000000Z", "versioned": true,
     "entries": [
      {"key": "datasets/eod/a.csv", "size": 3, "etag": "...", "version_id": "...",
       "crc64nvme": "...", "last_modified": "..."},
      ...
     ]
    }

One entry per object, sorted by key; `version_id` is null on an unversioned bucket
(the ETag alone then pins the content), `crc64nvme` null when not known. A lockfile
is input from anywhere: `load` checks every field's type and range and raises
`LockfileError` (a `UsageError`, exit code 2) with one line saying what is wrong.
Keys are checked again, like listing keys, where they become paths
(`stores.local.check_rel`); here only that each is below the lockfile's prefix.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .atomic import AtomicFile
from .entries import datetime_ns
from .errors import MissingDependency, NotARegularFile, UsageError
from .location import S3Location, parse_s3_url
from .options import one_line, shown
from .stores.local import open_regular

FORMAT = "bucketsync-lock/1"
MAX_TEXT = 1024  # characters of an ETag or a version id
MAX_KEY = 1024  # UTF-8 bytes of an S3 key
MAX_SIZE = 5 * 1024**4  # S3's largest object: 5 TiB
_HEADER = ("format", "bucket", "prefix", "endpoint", "created", "versioned", "entries")


class LockfileError(UsageError):
    """A lockfile that cannot be read or written, is malformed, or pins another bucket or
    prefix."""


def output_path(path: str | os.PathLike[str]) -> Path:
    """Where a lockfile may be written: the path of a new file or of a regular one.

    Anything else is a `LockfileError` in one line: a folder, a symbolic link, a FIFO
    or a device (never replaced by a regular file), a path below a file. Checked before
    a listing or a sync too, so that a bad path costs nothing.
    """
    name = one_line(os.fspath(path))
    if not name:
        raise LockfileError("the lockfile's path is empty")
    target = Path(path).expanduser().absolute()
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as e:
        raise LockfileError(f"{name}: cannot write the lockfile: {e.strerror or e}") from e
    if not stat.S_ISREG(mode):
        kinds = {stat.S_IFDIR: "a folder", stat.S_IFLNK: "a symbolic link"}
        kind = kinds.get(stat.S_IFMT(mode), "a special file")
        raise LockfileError(f"{name}: {kind}; a lockfile replaces only a regular file")
    return target


@dataclass(frozen=True)
class LockEntry:
    """One object as pinned: its key, size, ETag (no quotes), version and checksum."""

    key: str
    size: int
    etag: str
    version_id: str | None = None
    crc64nvme: str | None = None
    last_modified: str | None = None  # ISO 8601, as the listing gave it

    @property
    def last_modified_ns(self) -> int:
        return datetime_ns(parse_time(self.last_modified)) if self.last_modified else 0


@dataclass(frozen=True)
class Lock:
    """A pinned S3 prefix: iterate over it for its entries (sorted by key)."""

    bucket: str
    prefix: str
    endpoint: str
    created: datetime
    entries: tuple[LockEntry, ...] = ()
    versioned: bool = False
    _by_key: dict[str, LockEntry] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        entries = tuple(sorted(self.entries, key=lambda e: e.key))
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "_by_key", {e.key: e for e in entries})
        if len(self._by_key) != len(entries):
            raise LockfileError("a lockfile names a key twice")

    @property
    def url(self) -> str:
        return str(self.location)

    @property
    def location(self) -> S3Location:
        return S3Location(self.bucket, self.prefix)

    def __iter__(self) -> Iterator[LockEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def get(self, key: str) -> LockEntry | None:
        """The entry of a key (the full key, prefix included), or None."""
        return self._by_key.get(key)

    @property
    def size(self) -> int:
        """The bytes of all pinned objects together."""
        return sum(e.size for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "endpoint": self.endpoint,
            "created": format_time(self.created),
            "versioned": self.versioned,
            "entries": [asdict(e) for e in self.entries],
        }

    def dumps(self) -> str:
        """The lockfile's text: the header, then one entry a line (diffs stay readable)."""
        header = self.to_dict()
        entries = header.pop("entries")
        lines = [
            f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in header.items()
        ]
        body = ",\n".join(f"  {json.dumps(e, ensure_ascii=False)}" for e in entries)
        inner = f' "entries": [\n{body}\n ]' if entries else ' "entries": []'
        return "{\n" + "\n".join(lines) + "\n" + inner + "\n}\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the lockfile atomically (a reader never sees half of it); its path.
        Only a new file or a regular one is written (`output_path`)."""
        target = output_path(path)
        try:
            with AtomicFile(target.parent, target, "w", encoding="utf-8") as f:
                f.write(self.dumps())
        except OSError as e:
            name = one_line(os.fspath(path))
            raise LockfileError(f"{name}: cannot write the lockfile: {e.strerror or e}") from e
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Lock:
        """Read and check a lockfile; `LockfileError` says in one line what is wrong."""
        name = one_line(os.fspath(path))
        try:  # a FIFO would wait for a writer forever, a device could be endless
            with open(open_regular(path, follow_symlinks=True), "rb") as f:
                data = f.read()
        except NotARegularFile as e:
            raise LockfileError(f"{name}: cannot read the lockfile: not a regular file") from e
        except OSError as e:
            raise LockfileError(f"{name}: cannot read the lockfile: {e.strerror or e}") from e
        return cls.loads(data, name)

    @classmethod
    def loads(cls, text: str | bytes, name: str = "lockfile") -> Lock:
        """A lock from a lockfile's text (see `load`)."""
        try:
            document = json.loads(text)
        except (ValueError, RecursionError, TypeError) as e:
            raise LockfileError(f"{name}: not a bucketsync lockfile (not valid JSON)") from e
        try:
            return _lock(document)
        except LockfileError as e:
            raise LockfileError(f"{name}: {e}") from None

    def check_for(self, location: S3Location) -> None:
        """Refuse a lock of another bucket or prefix than the command names."""
        if (self.bucket, self.prefix) != (location.bucket, location.prefix):
            raise LockfileError(
                f"the lockfile pins {one_line(self.url)}, not {one_line(str(location))}"
                " (give the URL the lockfile was written for)"
            )

    def to_pandas(self) -> Any:
        """The entries as a pandas DataFrame, one row per object."""
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError as e:
            raise MissingDependency("to_pandas() needs pandas: pip install pandas") from e
        columns = [f for f in LockEntry.__dataclass_fields__]
        frame = pd.DataFrame([asdict(e) for e in self.entries], columns=columns)
        frame["last_modified"] = pd.to_datetime(frame["last_modified"], utc=True, format="ISO8601")
        return frame

    def __repr__(self) -> str:
        return f"<Lock {self.url} at {format_time(self.created)}: {len(self)} objects>"


def unwritable(path: Path, e: OSError) -> LockfileError:
    """The one-line error of a lockfile that cannot be written at `path`."""
    return LockfileError(f"{one_line(str(path))}: cannot write the lockfile: {e.strerror or e}")


def format_time(when: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (a time without a zone is UTC); ValueError if it is not one."""
    if not isinstance(text, str) or not text or len(text) > 64:
        raise ValueError(text)
    when = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# --- checking a document -----------------------------------------------------------------


def _lock(document: Any) -> Lock:
    if not isinstance(document, dict):
        raise LockfileError("not a bucketsync lockfile (not a JSON object)")
    if document.get("format") != FORMAT:
        found = shown(document.get("format"))
        raise LockfileError(f'not a bucketsync lockfile ("format" is {found}, not "{FORMAT}")')
    unknown = [k for k in document if k not in _HEADER]
    if unknown:
        raise LockfileError(f"unknown field {shown(unknown[0])} in the header")
    bucket = _text(document, "bucket", MAX_TEXT)
    prefix = _prefix(document)
    location = _location(bucket, prefix)
    endpoint = _text(document, "endpoint", MAX_TEXT, empty=True)
    created = _time(document.get("created"), "created")
    versioned = document.get("versioned", False)
    if not isinstance(versioned, bool):
        raise LockfileError('"versioned" must be true or false')
    entries = document.get("entries")
    if not isinstance(entries, list):
        raise LockfileError('"entries" must be a list')
    pinned = [_entry(item, n, location.prefix) for n, item in enumerate(entries)]
    return Lock(location.bucket, location.prefix, endpoint, created, tuple(pinned), versioned)


def _location(bucket: str, prefix: str) -> S3Location:
    try:
        location = parse_s3_url(f"s3://{bucket}/{prefix}")
    except UsageError as e:
        raise LockfileError(f"bad bucket or prefix ({e})") from None
    if location.bucket != bucket or location.prefix != prefix:
        raise LockfileError(f"bad bucket or prefix: {shown(bucket)}, {shown(prefix)}")
    return location


def _prefix(document: Mapping[str, Any]) -> str:
    prefix = document.get("prefix")
    if not isinstance(prefix, str) or (prefix and not prefix.endswith("/")):
        raise LockfileError('"prefix" must be a string, empty or ending with "/"')
    _utf8(prefix, '"prefix"')
    return prefix


def _entry(item: Any, n: int, prefix: str) -> LockEntry:
    where = f"entry {n}"
    if not isinstance(item, dict):
        raise LockfileError(f"{where} is not a JSON object")
    unknown = [k for k in item if k not in LockEntry.__dataclass_fields__]
    if unknown:
        raise LockfileError(f"{where}: unknown field {shown(unknown[0])}")
    key = item.get("key")
    if not isinstance(key, str) or not key.startswith(prefix) or key == prefix:
        raise LockfileError(f"{where}: the key {shown(key)} is not below the prefix {prefix!r}")
    if len(_utf8(key, f"{where}: the key")) > MAX_KEY or "\x00" in key:
        raise LockfileError(f"{where}: the key {shown(key)} is not a valid S3 key")
    size = item.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
        raise LockfileError(f"{where}: size must be a whole number of bytes, not {shown(size)}")
    etag = _text(item, "etag", MAX_TEXT, where=where)
    version = item.get("version_id")
    if version is not None:
        version = _text(item, "version_id", MAX_TEXT, where=where)
    crc = item.get("crc64nvme")
    if crc is not None and not _is_crc64(crc):
        raise LockfileError(f"{where}: crc64nvme is not a base64 CRC64NVME: {shown(crc)}")
    modified = item.get("last_modified")
    if modified is not None:
        _time(modified, f"{where}: last_modified")
    return LockEntry(key, size, etag, version, crc, modified)


def _text(
    document: Mapping[str, Any], name: str, limit: int, *, where: str = "", empty: bool = False
) -> str:
    value = document.get(name)
    label = f"{where}: {name}" if where else f'"{name}"'
    if not isinstance(value, str) or len(value) > limit or (not value and not empty):
        raise LockfileError(f"{label} must be a string of at most {limit} characters")
    if not value.isprintable():
        raise LockfileError(f"{label} holds unprintable characters: {shown(value)}")
    _utf8(value, label)
    return value


def _utf8(value: str, label: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise LockfileError(f"{label} is not valid UTF-8 text") from None


def _time(value: Any, label: str) -> datetime:
    try:
        when = parse_time(value)
        when.timestamp()  # OverflowError/ValueError for a year the platform cannot hold
    except (ValueError, TypeError, OverflowError, OSError):
        raise LockfileError(f"{label} must be an ISO 8601 time, not {shown(value)}") from None
    return when


def _is_crc64(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 12:
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 8
    except (binascii.Error, ValueError):
        return False
