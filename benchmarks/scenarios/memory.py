"""S8: peak memory of a no-change sync of many keys (simulated listing, real local tree).

For each key count (the headline count and a smaller one) the child prepares a tree and
the state database, then a fresh process measures a push and a pull (memory_child.py).
Reported: peak RSS, growth over the RSS just before the sync per key, and the slope
between the two counts (growth per extra key), which cancels fixed costs such as imports.
"""

from __future__ import annotations

from ..data import remove
from ..results import Run
from ..runner import Bench
from ..servers import PROJECT_PYTHON

BUCKET = "bench"


def run_s8(bench: Bench) -> None:
    home = bench.folder("S8")
    for n in sorted(bench.config.sizes.s8_keys):
        root = home / f"tree-{n}"
        bench.ws.fresh_state(f"S8-{n}")
        prepared = _child(bench, "prepare", root, n)
        if not prepared.ok:
            bench.log(f"S8: prepare {n} failed: {prepared.note}")
            continue
        for direction in ("push", "pull"):
            _child(bench, direction, root, n)
        remove(root)
    remove(home)


def _child(bench: Bench, mode: str, root: object, n: int) -> Run:
    import json

    from .. import REPO
    from ..measure import run_command

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(bench.ws.home),
        "BUCKETSYNC_STATE_DIR": str(bench.ws.state),
        "BUCKETSYNC_CACHE_DIR": str(bench.ws.root / "cache"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    argv = [str(PROJECT_PYTHON), "-m", "benchmarks.memory_child", mode, str(root), str(n)]
    m = run_command(argv, env, cwd=REPO, timeout=bench.config.timeout)
    run = Run("S8", mode, "bucketsync", 0, n, 0, round(m.seconds, 3))
    run.cpu_s, run.max_rss_kib, run.exit_code = round(m.cpu_s, 3), m.max_rss_kib, m.exit_code
    run.ok = m.exit_code == 0
    if run.ok and m.stdout.strip().startswith("{"):
        run.extra = json.loads(m.stdout)
    else:
        run.ok = False
        run.note = (m.stderr.strip().splitlines() or ["no output"])[-1][:400]
    if mode != "prepare":
        bench.session.add(run)
        bench.log(
            f"S8 {mode} {n} keys: peak {run.extra.get('peak_kib')} KiB,"
            f" {run.extra.get('bytes_per_key')} B/key {'' if run.ok else run.note}"
        )
    return run
