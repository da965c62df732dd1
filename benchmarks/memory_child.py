"""S8 child: peak memory of a no-change sync of N keys, with a simulated S3 listing.

``python -m benchmarks.memory_child prepare|push|pull ROOT N`` (the project's Python;
BUCKETSYNC_STATE_DIR set by the parent). ``prepare`` creates N empty files below ROOT
(1,000 to a folder) and records each as identical to its object in bucketsync's state
database. ``push``/``pull`` run ``bucketsync.sync`` in this fresh process with the S3
store replaced by a fake whose ``objects()`` yields N matching RemoteObjects (the real
local walk, march, state database and planner run), and print the RSS before the sync,
the peak RSS (VmHWM) after it, and bytes per key. No botocore client is made.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENDPOINT = "http://s8-simulated-listing.invalid"
BUCKET = "bench"
PREFIX = "s8/"
ETAG = "d41d8cd98f00b204e9800998ecf8427e"  # MD5 of no bytes
CRC64_EMPTY = "AAAAAAAAAAA="
PER_DIR = 1000


def names(n: int) -> Iterator[str]:
    for i in range(n):
        yield f"d{i // PER_DIR:05d}/f{i:07d}.bin"


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def prepare(root: Path, n: int) -> dict[str, Any]:
    from bucketsync.entries import Record
    from bucketsync.state import StateDB
    from bucketsync.stores.local import walk

    made = ""
    for rel in names(n):
        folder = rel.partition("/")[0]
        if folder != made:
            (root / folder).mkdir(parents=True, exist_ok=True)
            made = folder
        os.close(os.open(root / rel, os.O_CREAT | os.O_WRONLY, 0o644))
    now = time.time()
    with StateDB() as db:
        scope = db.scope(root, ENDPOINT, BUCKET, PREFIX)
        batch: list[Record] = []
        for f in walk(root, lambda *_: None):
            batch.append(Record(f.rel, f.fingerprint, False, CRC64_EMPTY, None, ETAG, 0, now))
            if len(batch) >= 50_000:
                db.save(scope, batch)
                batch = []
        db.save(scope, batch)
    return {"prepared": n}


def measure(direction: str, root: Path, n: int) -> dict[str, Any]:
    import bucketsync.api as api
    from bucketsync.entries import RemoteObject
    from bucketsync.location import S3Location

    class FakeStore:
        """The S3 side, simulated: a sorted listing of N objects identical to the files."""

        counter: Any = None

        def __init__(self, location: S3Location) -> None:
            self.client = None
            self.location = location
            self.bucket = location.bucket

        @property
        def endpoint(self) -> str:
            return ENDPOINT

        def objects(self, start_after: str = "") -> Iterator[RemoteObject]:
            for rel in names(n):
                yield RemoteObject(rel, PREFIX + rel, 0, ETAG, 1_700_000_000_000_000_000)

    patched = vars(api)  # the sync's S3 side becomes the fake, and no botocore client
    if "make_store" in patched:
        patched["make_store"] = lambda remote, options, stats: FakeStore(remote)
    else:  # before api.make_store existed
        patched["S3Store"] = lambda client, location, *_: FakeStore(location)
        patched["make_client"] = lambda settings, counter=None: None
    url = f"s3://{BUCKET}/{PREFIX}"
    src, dst = (str(root), url) if direction == "push" else (url, str(root))
    before = status_kib("VmRSS")
    start = time.perf_counter()
    report = api.sync(src, dst, progress=False)
    seconds = time.perf_counter() - start
    peak = status_kib("VmHWM")
    return {
        "keys": n,
        "unchanged": report.unchanged,
        "actions": len(report.plan.actions),
        "bytes_hashed": report.bytes_hashed,
        "rss_before_kib": before,
        "peak_kib": peak,
        "bytes_per_key": round((peak - before) * 1024 / n, 1),
        "sync_seconds": round(seconds, 3),
    }


def main(argv: list[str]) -> int:
    mode, root, n = argv[0], Path(argv[1]), int(argv[2])
    out = prepare(root, n) if mode == "prepare" else measure(mode, root, n)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
