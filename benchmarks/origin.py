"""The origin notebook's approach (``LocalObjectCache``), re-implemented as a baseline.

``python -m benchmarks.origin push|pull LOCAL BUCKET PREFIX``; the endpoint and keys come
from the environment. As in the notebook: boto3's resource API, a ``multiprocessing.Pool()``
(one process per core), and for every object the S3 "ETag" of the local file recomputed
from scratch (MD5 of 8 MiB parts, then MD5 of the MD5s and ``-N`` for more than one part),
compared with the listed ETag; any difference means transfer (``download_file`` /
``upload_file``). Nothing is remembered between runs. Two deliberate differences, so the
approach is measured rather than its accidents: ETags are compared without their quotes
(rclone lists them unquoted, which would make the notebook re-download everything), and
keys map to paths below LOCAL without the prefix. Prints one JSON line.
"""

from __future__ import annotations

import copy
import hashlib
import json
import multiprocessing
import os
import sys
from pathlib import Path
from typing import Any

import boto3

PART = 8 * 1024 * 1024


def s3_etag(path: str, chunk_size: int = PART) -> str:
    """The notebook's calculate_s3_etag (without quotes)."""
    md5s = []
    with open(path, "rb") as file:
        while True:
            data = file.read(chunk_size)
            if not data:
                break
            md5s.append(hashlib.md5(data))
    if len(md5s) == 1:
        return md5s[0].hexdigest()
    if not md5s:
        return hashlib.md5(b"").hexdigest()
    digests = b"".join(m.digest() for m in md5s)
    return f"{hashlib.md5(digests).hexdigest()}-{len(md5s)}"


class LocalObjectCache:
    """The notebook's class, reduced to what a sync uses."""

    def __init__(self, bucket_name: str, prefix: str, path: str) -> None:
        self.bucket_name = bucket_name
        self.prefix = prefix
        self.path = path
        self.bucket: Any = boto3.resource("s3").Bucket(bucket_name)

    def __getstate__(self) -> dict[str, Any]:
        out = copy.copy(self.__dict__)
        out["bucket"] = None
        return out

    def __setstate__(self, d: dict[str, Any]) -> None:
        d["bucket"] = boto3.resource("s3").Bucket(d["bucket_name"])
        self.__dict__ = d

    def get_obj(self, key: str, tag: str) -> tuple[int, int]:
        """Download unless the local file's ETag matches: (transferred, bytes hashed)."""
        path = os.path.join(self.path, key[len(self.prefix) :])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        hashed = 0
        try:
            if s3_etag(path) == tag.strip('"'):
                return 0, os.path.getsize(path)
            hashed = os.path.getsize(path)
        except FileNotFoundError:
            pass
        self.bucket.download_file(key, path)
        return 1, hashed

    def set_obj(self, rel: str, tag: str | None) -> tuple[int, int]:
        """Upload unless the remote ETag matches the local file's: (transferred, bytes hashed)."""
        path = os.path.join(self.path, rel)
        hashed = os.path.getsize(path)
        if tag is not None and s3_etag(path) == tag.strip('"'):
            return 0, hashed
        self.bucket.upload_file(path, self.prefix + rel)
        return 1, hashed

    def pull(self) -> list[tuple[int, int]]:
        keys = [(o.key, o.e_tag) for o in self.bucket.objects.filter(Prefix=self.prefix)]
        with multiprocessing.Pool() as pool:
            return pool.starmap(self.get_obj, keys)

    def push(self) -> list[tuple[int, int]]:
        tags = {o.key: o.e_tag for o in self.bucket.objects.filter(Prefix=self.prefix)}
        root = Path(self.path)
        rels = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        jobs = [(rel, tags.get(self.prefix + rel)) for rel in rels]
        with multiprocessing.Pool() as pool:
            return pool.starmap(self.set_obj, jobs)


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in ("push", "pull"):
        print("usage: python -m benchmarks.origin push|pull LOCAL BUCKET PREFIX", file=sys.stderr)
        return 2
    direction, local, bucket, prefix = argv
    os.makedirs(local, exist_ok=True)
    cache = LocalObjectCache(bucket, prefix, local)
    done = cache.push() if direction == "push" else cache.pull()
    out = {
        "objects": len(done),
        "transferred": sum(t for t, _ in done),
        "bytes_hashed": sum(h for _, h in done),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
