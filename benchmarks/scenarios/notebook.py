"""S7: the notebook case, `Mirror.path(key)` on a freshly cached file, against fsspec.

Each variant runs in a fresh process: one call downloads the file, then CALLS calls are
timed. Requests are counted by a pass through a counting HTTP proxy (tests/faultproxy.py
with no faults) in front of the server; the timings come from passes without the proxy.
fsspec runs from its own venv (.cache/bench-fsspec-venv: s3fs pins a botocore that awscli
does not accept).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .. import REPO
from ..data import remove, write_tree
from ..results import Run
from ..runner import Bench
from ..servers import PROJECT_PYTHON, BenchServer
from ..tools import FSSPEC_VENV, Place, tool_env

BUCKET = "bench"
PREFIX = "s7/"
KEY = "data.bin"
SIZE = 1024 * 1024
VARIANTS = (
    ("bucketsync Mirror.path", "bucketsync", "default"),
    ("bucketsync Mirror.path", "bucketsync", "max_age=0"),
    ("bucketsync Mirror.path", "bucketsync", "max_age=3600"),
    ("fsspec filecache", "fsspec", "check_files=True"),
)


def run_s7(bench: Bench) -> None:
    home = bench.folder("S7")
    server = bench.server("S7")
    server.make_bucket(BUCKET)
    write_tree([server.data_dir / BUCKET / PREFIX], [KEY], SIZE)
    calls = bench.config.sizes.s7_calls
    with server:
        server.count(BUCKET, PREFIX)
        proxy = _proxy(server.endpoint_url)
        try:
            for label, mode, variant in VARIANTS:
                python = PROJECT_PYTHON if mode == "bucketsync" else FSSPEC_VENV / "bin/python"
                if not python.exists():
                    bench.session.skipped[f"S7/{label}"] = f"{python} missing (make bench-deps)"
                    continue
                _variant(bench, server, proxy, label, mode, variant, python, calls)
        finally:
            proxy.stop()
    remove(home)


def _variant(
    bench: Bench,
    server: BenchServer,
    proxy: Any,
    label: str,
    mode: str,
    variant: str,
    python: Path,
    calls: int,
) -> None:
    counted = _child(bench, server, python, mode, variant, calls, proxy)
    if not counted.get("available"):
        why = str(counted.get("why", "not available"))
        bench.session.skipped[f"S7/{label} {variant}"] = why
        bench.log(f"S7: {label} ({variant}) not available: {why}")
        return
    for r in range(bench.config.runs):
        timed = _child(bench, server, python, mode, variant, calls, None)
        run = Run("S7", variant, label, r, calls, SIZE, float(timed.get("seconds", 0.0)))
        run.ok = bool(timed.get("available"))
        run.extra = {**timed, **{k: v for k, v in counted.items() if k.startswith("req")}}
        bench.session.add(run)
        bench.log(
            f"S7 {label} ({variant}) run {r}: {run.extra.get('us_median')} us/call,"
            f" {run.extra.get('requests_per_call')} requests/call"
        )


def _child(
    bench: Bench,
    server: BenchServer,
    python: Path,
    mode: str,
    variant: str,
    calls: int,
    proxy: Any | None,
) -> dict[str, Any]:
    """Run one child; with a proxy, count the requests of the timed calls."""
    env = tool_env(Place(server, BUCKET, PREFIX, bench.folder("S7")), bench.ws)
    bench.ws.fresh_state("S7")
    env["BUCKETSYNC_STATE_DIR"] = str(bench.ws.state)
    env["BUCKETSYNC_CACHE_DIR"] = str(bench.ws.state / "cache")
    if proxy is not None:
        env["AWS_ENDPOINT_URL"] = proxy.endpoint_url
    argv = [str(python), "-m", "benchmarks.notebook_child", mode, variant, BUCKET, PREFIX, KEY]
    with subprocess.Popen(
        [*argv, str(calls)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        first = proc.stdout.readline()
        if first.strip() != "READY":
            rest = proc.communicate(timeout=60)
            return _unavailable(first, rest[1])
        seen = len(proxy.log) if proxy is not None else 0
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        log = list(proxy.log[seen:]) if proxy is not None else []
        proc.communicate(timeout=60)
    result: dict[str, Any] = json.loads(line) if line.startswith("{") else {"available": False}
    if proxy is not None:
        methods = Counter(method for method, _, _ in log)
        result["requests"] = len(log)
        result["requests_per_call"] = round(len(log) / calls, 3)
        result["requests_by_method"] = dict(methods)
    return result


def _unavailable(first: str, stderr: str) -> dict[str, Any]:
    if first.startswith("{"):
        parsed: dict[str, Any] = json.loads(first)
        return parsed
    tail = " | ".join(stderr.strip().splitlines()[-3:])
    return {"available": False, "why": f"child failed: {first.strip()} {tail}"[:500]}


def _proxy(upstream: str) -> Any:
    """A request-counting proxy: tests/faultproxy.py with no faults."""
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    from faultproxy import FaultProxy, Faults

    return FaultProxy(upstream, Faults()).start()
