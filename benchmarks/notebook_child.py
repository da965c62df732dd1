"""S7 child: time `path()`-like calls on a cached file, in a fresh process.

``python -m benchmarks.notebook_child bucketsync|fsspec VARIANT BUCKET PREFIX KEY CALLS``;
endpoint and keys from the environment. It makes the first call (which downloads), prints
``READY``, waits for a line on stdin (the parent reads the proxy's request count then),
makes CALLS more calls and prints one JSON line. If the API is missing it prints a JSON
line with ``"available": false`` instead of READY.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any


def bucketsync_call(variant: str, bucket: str, prefix: str, key: str) -> Callable[[], Any]:
    from bucketsync import Mirror  # type: ignore[attr-defined,unused-ignore]

    kwargs: dict[str, Any] = {}
    if variant.startswith("max_age="):
        kwargs["max_age"] = float(variant.partition("=")[2])
    mirror = Mirror(f"s3://{bucket}/{prefix}", **kwargs)
    return lambda: mirror.path(key)


def fsspec_call(variant: str, bucket: str, prefix: str, key: str) -> Callable[[], Any]:
    import fsspec  # type: ignore[import-not-found,unused-ignore]

    fs = fsspec.filesystem(
        "filecache",
        target_protocol="s3",
        target_options={
            "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
            "key": os.environ["AWS_ACCESS_KEY_ID"],
            "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
            "client_kwargs": {"region_name": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")},
        },
        cache_storage=tempfile.mkdtemp(prefix="fsspec-cache-"),
        check_files=True,
    )
    path = f"{bucket}/{prefix}{key}"

    def call() -> Any:
        with fs.open(path, "rb") as handle:
            return handle.name

    return call


def main(argv: list[str]) -> int:
    mode, variant, bucket, prefix, key, calls = argv
    make = bucketsync_call if mode == "bucketsync" else fsspec_call
    try:
        call = make(variant, bucket, prefix, key)
        call()
    except (ImportError, AttributeError, TypeError) as e:
        print(json.dumps({"available": False, "why": f"{type(e).__name__}: {e}"}), flush=True)
        return 0
    print("READY", flush=True)
    sys.stdin.readline()
    times = []
    start = time.perf_counter()
    for _ in range(int(calls)):
        t0 = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - t0) / 1000)
    total = time.perf_counter() - start
    out = {
        "available": True,
        "calls": int(calls),
        "seconds": round(total, 4),
        "us_median": round(statistics.median(times), 1),
        "us_mean": round(statistics.fmean(times), 1),
        "us_p90": round(sorted(times)[int(len(times) * 0.9)], 1),
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
