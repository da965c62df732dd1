"""S11: one sync on a Dask LocalCluster of 1, 2 and 4 workers against one process.

A first push and a first pull of many small files through the latency proxy, with the
same total window: one process with `--jobs WINDOW`, and W workers whose ranges each
run with `WINDOW / W` jobs (one range at a time per worker). The cluster is started
before the clock starts (its start-up is recorded apart). Runs in the project's
`.venv` (it needs `distributed`), not the peers' bench venv:

    .venv/bin/python -m benchmarks.cluster --files 20000      # the issue's size
    .venv/bin/python -m benchmarks.cluster --files 4000 --out benchmarks/results/cluster/quick

Writes results.json, results.md and s11_workers.png to --out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import REPO
from .data import names, write_tree
from .link import Link
from .servers import BenchServer

BUCKET = "s11"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="s11-", dir=REPO / "benchmarks") as work:
        rows = _measure(Path(work), args)
    meta = {
        "files": args.files,
        "size": args.size,
        "delay_ms": args.delay,
        "window": args.window,
        "cores": os.cpu_count(),
        "load_average_at_start": rows[0]["load"] if rows else None,
    }
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1))
    (args.out / "results.md").write_text(_table(meta, rows))
    _plot(rows, args.out / "s11_workers.png")
    print((args.out / "results.md").read_text())
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__)
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--size", type=int, default=16 * 1024)
    p.add_argument("--delay", type=float, default=40.0, help="one-way delay, ms")
    p.add_argument("--window", type=int, default=64, help="total jobs (split over workers)")
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks/results/cluster")
    return p


def _measure(work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    tree = work / "tree"
    write_tree([tree], names(args.files), args.size)
    setups: list[int] = [0, *(int(w) for w in args.workers.split(","))]  # 0: one process
    rows = []
    with BenchServer("rclone", work / "server") as server, Link(server, args.delay) as link:
        server.make_bucket(BUCKET)
        view = link.view
        for workers in setups:
            with _cluster(workers, server.server.env()) as (client, started):
                for direction in ("push", "pull"):
                    row = _run(work, tree, view, client, workers, direction, args)
                    rows.append({**row, "cluster_start_s": started})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


@contextlib.contextmanager
def _cluster(workers: int, env: dict[str, str]) -> Iterator[tuple[Any, float]]:
    """A LocalCluster of `workers` processes (none for 0) and the seconds it took to start."""
    if not workers:
        yield None, 0.0
        return
    import distributed

    started = time.monotonic()
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"})
    try:
        cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    with cluster, distributed.Client(cluster) as client:  # type: ignore[no-untyped-call]
        client.wait_for_workers(workers)
        yield client, round(time.monotonic() - started, 2)


def _run(
    work: Path,
    tree: Path,
    view: Any,
    client: Any,
    workers: int,
    direction: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One timed sync (a first push, or a first pull of the one-process push)."""
    import bucketsync

    name = f"w{workers}"
    state = work / f"state-{name}-{direction}"
    os.environ["BUCKETSYNC_STATE_DIR"] = str(state)
    env = view.server.env()
    os.environ.update({k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"})
    url = f"s3://{BUCKET}/{name}/" if direction == "push" else f"s3://{BUCKET}/w0/"
    pulled = work / f"pull-{name}"
    src, dst = (tree, url) if direction == "push" else (url, pulled)
    jobs = args.window // max(1, workers)
    options: dict[str, Any] = {"endpoint_url": view.server.endpoint_url, "jobs": jobs}
    if client is not None:
        options["cluster"] = client
    before_server, before_link = view.cpu_seconds(), view.link_stats() or {}
    before_workers = _workers_cpu(client)
    cpu, load = time.process_time(), os.getloadavg()[0]
    started = time.monotonic()
    report = bucketsync.sync(src, dst, progress=False, **options)
    seconds = time.monotonic() - started
    after_link = view.link_stats() or {}
    moved = report.uploaded + report.downloaded
    if moved + report.failed != args.files:
        raise SystemExit(f"{name} {direction}: moved {moved} of {args.files}: {report.errors[:3]}")
    if direction == "pull":
        shutil.rmtree(pulled)
    return {
        "setup": "one process" if not workers else f"{workers} worker(s)",
        "workers": workers,
        "direction": direction,
        "jobs_each": jobs,
        "seconds": round(seconds, 2),
        "failed": [f"{e.path}: {e.error}" for e in report.errors],  # kept: a slow run's cause
        "client_cpu_s": round(time.process_time() - cpu, 2),
        "workers_cpu_s": round(_workers_cpu(client) - before_workers, 2),
        "server_cpu_s": round(view.cpu_seconds() - before_server, 2),
        "proxy_cpu_s": round(after_link.get("cpu_s", 0) - before_link.get("cpu_s", 0), 2),
        "requests": report.requests,
        "cluster": report.cluster,
        "load": round(load, 2),
    }


def _workers_cpu(client: Any) -> float:
    """CPU seconds of every worker process so far (0 without a cluster)."""
    return 0.0 if client is None else float(sum(client.run(time.process_time).values()))


def _table(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# S11: {meta['files']:,} files x {meta['size'] // 1024} KiB, first push and pull,"
        f" {meta['delay_ms']:g} ms one way, total window {meta['window']}",
        "",
        f"{meta['cores']} cores, shared with the S3 server, the latency proxy, every worker"
        f" and other work (load average {meta['load_average_at_start']} at the start).",
        "Speedup: the one-process time over this time; efficiency: the 1-worker time over"
        " (W x this time).",
        "",
        "| direction | setup | jobs each | seconds | speedup | efficiency"
        " | client CPU s | workers CPU s | server CPU s | proxy CPU s | ranges |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for direction in ("push", "pull"):
        mine = [r for r in rows if r["direction"] == direction]
        one = next((r["seconds"] for r in mine if r["workers"] == 0), None)
        single = next((r["seconds"] for r in mine if r["workers"] == 1), None)
        for r in mine:
            w = r["workers"]
            speedup = f"{one / r['seconds']:.2f}" if one else ""
            eff = f"{single / (w * r['seconds']):.2f}" if single and w else ""
            ranges = (r["cluster"] or {}).get("ranges", "")
            failed = f" ({len(r['failed'])} failed)" if r.get("failed") else ""
            lines.append(
                f"| {direction} | {r['setup']} | {r['jobs_each']} | {r['seconds']}{failed}"
                f" | {speedup}"
                f" | {eff} | {r['client_cpu_s']} | {r['workers_cpu_s']} | {r['server_cpu_s']}"
                f" | {r['proxy_cpu_s']}"
                f" | {ranges} |"
            )
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for direction, colour in (("push", "tab:blue"), ("pull", "tab:orange")):
        mine = [r for r in rows if r["direction"] == direction]
        points = sorted((r["workers"], r["seconds"]) for r in mine if r["workers"])
        ax.plot(*zip(*points, strict=True), "o-", color=colour, label=f"{direction}, cluster")
        one = [r["seconds"] for r in mine if not r["workers"]]
        if one:
            ax.axhline(one[0], color=colour, ls="--", label=f"{direction}, one process")
    ax.set_xlabel("workers (LocalCluster processes)")
    ax.set_ylabel("seconds")
    ax.set_xticks(sorted({r["workers"] for r in rows if r["workers"]}))
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.set_title("S11: first push and pull through a 40 ms link")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
