"""S6: objects uploaded by other tools as multipart, identical local copies present.

Server: LocalStack when installed (`make localstack`): the only local server that matches
S3's checksum behaviour; else moto. Each uploader (aws cli: 8 MiB parts, rclone: 5 MiB,
s5cmd: 50 MiB) puts its files under its own prefix with its own defaults. The local copies
get the object's LastModified as mtime, so size-and-mtime tools also see them as equal.
Every tool then syncs each prefix, pull and push, from a cold start; an object is counted
as transferred when the tool rewrote the local file (pull) or the object (push).
bucketsync reports bytes transferred, requests and bytes hashed from its summary, and a
second run shows what its state saves.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from s3servers import localstack_installed

from ..data import changed, remove, snapshot, write_tree
from ..measure import run_command
from ..runner import Bench
from ..servers import BenchServer
from ..tools import PEERS, RCLONE_REMOTE, Place, Tool, tool_env

BUCKET = "bench"
S6_TOOLS = ("bucketsync", *PEERS)
UPLOADERS = ("aws", "rclone", "s5cmd")


def run_s6(bench: Bench) -> None:
    kind = "localstack" if localstack_installed() else "moto"
    if kind == "moto":
        bench.log("S6: LocalStack is not installed (make localstack); using moto")
    home = bench.folder("S6")
    sets = [s for s in bench.config.sizes.s6_sets if not bench.all[s[0]].missing()]
    for uploader, count, size in sets:
        names = [f"{uploader}-{i:03d}.bin" for i in range(count)]
        write_tree([home / "pristine" / uploader], names, size, seed=len(uploader))
    tools = bench.tools("S6", S6_TOOLS)
    with bench.server("S6", kind) as server:
        bench.session.meta.setdefault("servers", {})["S6"] = server.describe()
        server.make_bucket(BUCKET)
        for uploader, count, size in sets:
            prefix = f"s6-{uploader}/"
            source = home / "pristine" / uploader
            Uploads(bench, server, uploader, prefix, source).check(count)
            for direction in ("pull", "push"):
                for tool in tools:
                    _one(bench, server, tool, uploader, prefix, direction, count * size)
    remove(home)


class Uploads:
    """Put a folder on the server with one uploader's own command and defaults."""

    def __init__(
        self, bench: Bench, server: BenchServer, uploader: str, prefix: str, source: Path
    ) -> None:
        self.bench = bench
        self.server = server
        self.uploader = uploader
        self.prefix = prefix
        self.source = source
        self.upload()

    def upload(self) -> None:
        place = Place(self.server, BUCKET, self.prefix, self.source)
        tool = self.bench.all[self.uploader]
        url = self.server.endpoint_url
        remote = f"s3://{BUCKET}/{self.prefix}"
        rclone_dest = f"{RCLONE_REMOTE}:{BUCKET}/{self.prefix.rstrip('/')}"
        source = str(self.source)
        argv = {
            "aws": ["s3", "cp", "--recursive", source, remote, "--endpoint-url", url],
            "rclone": ["copy", source, rclone_dest, "--s3-upload-cutoff=5M", "--s3-chunk-size=5M"],
            "s5cmd": ["--log", "error", "--endpoint-url", url, "cp", f"{source}/*", remote],
        }[self.uploader]
        argv = [tool.executable, *argv]
        done = run_command(argv, tool_env(place, self.bench.ws), timeout=600)
        if done.exit_code != 0:
            raise RuntimeError(f"S6 upload with {self.uploader} failed: {done.stderr[-500:]}")

    def check(self, count: int) -> None:
        etags = [o["ETag"] for o in _listing(self.server, self.prefix).values()]
        parts = sorted({e.strip('"').rpartition("-")[2] if "-" in e else "1" for e in etags})
        meta = self.bench.session.meta.setdefault("s6_uploads", {})
        meta[self.uploader] = {"objects": len(etags), "parts": parts}
        if len(etags) != count:
            raise RuntimeError(f"S6: {self.uploader} uploaded {len(etags)} of {count} objects")


def _one(
    bench: Bench,
    server: BenchServer,
    tool: Tool,
    uploader: str,
    prefix: str,
    direction: str,
    nbytes: int,
) -> None:
    home = bench.folder("S6")
    local = home / "local" / uploader
    pristine = _listing(server, prefix)
    _local_copy(home / "pristine" / uploader, local, pristine, prefix)
    bench.ws.fresh_state(f"S6-{uploader}-{direction}-{tool.name}")
    place = Place(server, BUCKET, prefix, local)
    runs = 2 if tool.stateful else 1
    for r in range(runs):
        before_local, before_remote = snapshot(local), _listing(server, prefix)
        result = bench.run(
            tool,
            direction,
            place,
            scenario="S6",
            case=f"{direction} {uploader}",
            run=r,
            files=len(before_remote),
            nbytes=nbytes,
        )
        rewritten_local = changed(before_local, snapshot(local))
        after_remote = _listing(server, prefix)
        rewritten_remote = [k for k in after_remote if after_remote[k] != before_remote.get(k)]
        result.extra.update(
            uploader=uploader,
            transferred=len(rewritten_local) + len(rewritten_remote),
        )
    if _listing(server, prefix) != pristine:  # put the uploader's objects back
        Uploads(bench, server, uploader, prefix, home / "pristine" / uploader)


def _listing(server: BenchServer, prefix: str) -> dict[str, dict[str, Any]]:
    client = server.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {
        o["Key"]: {"ETag": o["ETag"], "LastModified": o["LastModified"]}
        for page in pages
        for o in page.get("Contents", ())
    }


def _local_copy(source: Path, local: Path, listing: dict[str, dict[str, Any]], prefix: str) -> None:
    """A fresh copy of the uploaded files, each with its object's LastModified as mtime."""
    remove(local)
    shutil.copytree(source, local)
    for key, obj in listing.items():
        stamp = obj["LastModified"].timestamp()
        os.utime(local / key[len(prefix) :], (stamp, stamp))
