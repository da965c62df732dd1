"""The S2 floor: list the prefix and stat every local file, nothing else.

``python -m benchmarks.floor LOCAL BUCKET PREFIX [--boto3]`` with the server's endpoint
and keys in the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). It prints one JSON
line: keys listed, files stat'ed, and the seconds of each half. The default lists with
signed raw HTTP GETs parsed by ElementTree (no botocore); ``--boto3`` lists with boto3's
``list_objects_v2`` paginator instead, to show what botocore's parsing costs. The walk is
``os.scandir`` recursion with one ``stat`` per file. The two halves run one after the
other in one thread, so the floor is the plain sum: a sync that overlaps them can beat it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .s3list import Credentials, list_objects


def stat_all(root: Path) -> int:
    """stat every regular file below root; return how many."""
    n = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat(follow_symlinks=False)
                    n += 1
    return n


def list_raw(bucket: str, prefix: str) -> int:
    creds = Credentials(
        os.environ["AWS_ENDPOINT_URL"],
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
        os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    return sum(1 for _ in list_objects(creds, bucket, prefix))


def list_boto3(bucket: str, prefix: str) -> int:
    import boto3

    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(len(page.get("Contents", ())) for page in pages)


def main(argv: list[str]) -> int:
    boto = "--boto3" in argv
    args = [a for a in argv if a != "--boto3"]
    if len(args) != 3:
        print("usage: python -m benchmarks.floor LOCAL BUCKET PREFIX [--boto3]", file=sys.stderr)
        return 2
    local, bucket, prefix = args
    t0 = time.perf_counter()
    keys = list_boto3(bucket, prefix) if boto else list_raw(bucket, prefix)
    t1 = time.perf_counter()
    files = stat_all(Path(local))
    t2 = time.perf_counter()
    out = {"keys": keys, "files": files, "list_s": round(t1 - t0, 4), "stat_s": round(t2 - t1, 4)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
