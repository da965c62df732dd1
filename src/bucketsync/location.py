"""Parse `s3://bucket/prefix` URLs and tell the direction of a sync."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import LocalFolderNotFound, UsageError

Direction = Literal["push", "pull"]

_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix that is empty or ends with '/'."""

    bucket: str
    prefix: str = ""

    def key(self, rel: str) -> str:
        """The object key of a path relative to this prefix."""
        return self.prefix + rel

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def is_s3_url(text: str) -> bool:
    return text.startswith("s3://")


def parse_s3_url(text: str, *, as_folder: bool = True) -> S3Location:
    """Parse `s3://bucket[/prefix]`; the prefix is read as a folder unless told otherwise."""
    if not is_s3_url(text):
        raise UsageError(f"not an S3 URL (expected s3://bucket/prefix): {text!r}")
    bucket, _, prefix = text[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket):
        raise UsageError(f"malformed bucket name in {text!r}")
    if "\x00" in prefix:
        raise UsageError(f"an S3 prefix cannot contain a NUL character: {text!r}")
    if as_folder and prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Location(bucket, prefix)


@dataclass(frozen=True)
class SyncPair:
    """The two sides of a sync and the direction data flows."""

    direction: Direction
    local: Path
    remote: S3Location

    @property
    def source(self) -> str:
        return str(self.local) if self.direction == "push" else str(self.remote)

    @property
    def destination(self) -> str:
        return str(self.remote) if self.direction == "push" else str(self.local)


def parse_pair(src: str | Path, dst: str | Path) -> SyncPair:
    """Work out the direction from which side is an S3 URL; check the local folder.

    A push needs an existing folder; a pull creates its folder when it first writes.
    """
    src_s3, dst_s3 = is_s3_url(str(src)), is_s3_url(str(dst))
    if src_s3 == dst_s3:
        raise UsageError("one of SRC and DST must be an s3:// URL, the other a local folder")
    if src_s3:
        pair = SyncPair("pull", Path(dst), parse_s3_url(str(src)))
    else:
        pair = SyncPair("push", Path(src), parse_s3_url(str(dst)))
    if pair.local.exists() and not pair.local.is_dir():
        raise UsageError(f"not a folder: {pair.local}")
    if pair.direction == "push" and not pair.local.is_dir():
        raise LocalFolderNotFound(f"no such folder: {pair.local}")
    return pair
