"""A 200,000-key sync in a process of its own, against an in-memory fake of the S3 side.

Run by test_load.py: ``python load_worker.py ROOT N`` prints one JSON object. A real
server cannot list that many keys affordably here (moto takes minutes), so the S3 store
is replaced by a fake that generates its listing on the fly and accepts uploads without
keeping them; everything else (walk, merge, state database, pools, transfer code) is
the real thing. It pushes N new files, then re-syncs the unchanged tree, sampling the
resident memory as the listing streams by, then pulls N/20 of them into a new folder
(temporary files, locks, renames), and counts open files and threads around it all.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bucketsync import api
from bucketsync.compare import RemoteFacts
from bucketsync.entries import RemoteObject
from bucketsync.keyrange import EVERYTHING, KeyRange
from bucketsync.location import S3Location
from bucketsync.stores.window import BotocoreGate, Window

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def rel(i: int) -> str:
    return f"d{i // 1000:03d}/f{i % 1000:03d}"


def content(i: int) -> bytes:
    return f"{i}\n".encode()


class FakeStore:
    """The S3 side: a listing of N objects made up as it is read; uploads are counted."""

    def __init__(self, location: S3Location, n: int, listed: bool) -> None:
        self.location, self.bucket = location, location.bucket
        self.n, self.listed = n, listed
        self.puts = 0
        self.samples: list[int] = []
        # a job hooks its interrupt into the store's request window, as on S3Store
        self.connection = SimpleNamespace(gate=BotocoreGate(Window(16)))
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return "fake://"

    def objects(self, start_after: str = "") -> Iterator[RemoteObject]:
        if not self.listed:
            return
        for i in range(self.n):
            if i % (self.n // 20) == 0:
                self.samples.append(rss())
            data = content(i)
            yield RemoteObject(
                rel(i), self.location.key(rel(i)), len(data), hashlib.md5(data).hexdigest(), 0
            )
        self.samples.append(rss())

    def first_page(self, span: KeyRange) -> None:
        return None  # as S3Store behind a proxy: the listing is read through pages()

    def pages(self, span: KeyRange = EVERYTHING) -> Iterator[list[RemoteObject]]:
        """The listing of a key range, a page of 1,000 at a time (ranges list side by side)."""
        page: list[RemoteObject] = []
        for obj in self.objects():
            if span.past(obj.rel):
                break
            if obj.rel in span:
                page.append(obj)
            if len(page) == 1000:
                yield page
                page = []
        yield page

    def put(self, key: str, body: bytes, crc64nvme: str, condition: Mapping[str, str]) -> str:
        with self._lock:
            self.puts += 1
        return hashlib.md5(body).hexdigest()

    def can_send(self) -> bool:
        return False  # no awscrt here: uploads take the threaded path, through put()

    def head(self, key: str, *, part_number: int | None = None) -> RemoteFacts:
        raise AssertionError(f"unexpected HEAD {key}")

    def get(self, key: str, etag: str, *args: Any, **kwargs: Any) -> Any:
        data = content(int(key.rsplit("d", 1)[1].replace("/f", "")))
        return {"ETag": f'"{etag}"', "ContentLength": len(data), "Body": Body(data)}


class Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        yield self.data


def make_tree(root: Path, n: int) -> None:
    for i in range(n):
        path = root / rel(i)
        if i % 1000 == 0:
            path.parent.mkdir(parents=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, content(i))
        os.close(fd)


def counts() -> tuple[int, int]:
    return len(os.listdir("/proc/self/fd")), threading.active_count()


def main(root: Path, n: int) -> dict[str, Any]:
    src = root / "src"
    make_tree(src, n)
    stores: list[FakeStore] = []

    def fake(remote: S3Location, options: Any, stats: Any) -> FakeStore:
        stores.append(FakeStore(remote, n, listed=bool(stores)))
        return stores[-1]

    api.make_store = fake  # type: ignore[assignment]
    before = counts()
    start_rss, started = rss(), time.monotonic()
    first = api.sync(src, "s3://fake/p", progress=False)
    push_s, push_rss = time.monotonic() - started, rss()
    after_push = counts()
    started = time.monotonic()
    again = api.sync(src, "s3://fake/p", progress=False)
    resync_s = time.monotonic() - started
    samples = stores[1].samples
    pulled = n // 20
    stores.append(FakeStore(S3Location("fake", "p/"), pulled, listed=True))
    api.make_store = lambda *args: stores[-1]  # type: ignore[assignment]
    pull = api.sync("s3://fake/p", root / "pulled", progress=False)
    return {
        "keys": n,
        "uploaded": first.uploaded,
        "puts": stores[0].puts,
        "first_errors": len(first.errors),
        "resync_unchanged": again.unchanged,
        "resync_actions": len(again.plan),
        "resync_hashed": again.bytes_hashed,
        "push_seconds": push_s,
        "resync_seconds": resync_s,
        "push_rss_growth": push_rss - start_rss,
        "resync_rss_early": samples[2],
        "resync_rss_late": max(samples[2:]),
        "pulled": pull.downloaded,
        "pull_errors": len(pull.errors),
        "fds": [before[0], after_push[0], counts()[0]],
        "threads": [before[1], after_push[1], counts()[1]],
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]))))
