"""S1 (cold pull, then cold push, of many 16 KiB files) and S5 (one large file).

Every run starts cold: an empty destination and an empty bucketsync state folder. The
tools take turns run by run (the order rotates), so drift on a shared machine spreads
over all of them. Each run is checked: the destination must hold every file and byte.
"""

from __future__ import annotations

from ..data import names, remove, write_tree
from ..runner import Bench, delete_prefix, expect_local, expect_remote
from ..servers import BenchServer
from ..tools import PEERS, Place, Tool

BUCKET = "bench"
S1_TOOLS = ("bucketsync", *PEERS)
S5_TOOLS = ("bucketsync", "aws", "s5cmd", "rclone", "origin")


def run_s1(bench: Bench) -> None:
    sizes = bench.config.sizes
    tools = bench.tools("S1", S1_TOOLS)
    home = bench.folder("S1")
    server = bench.server("S1")
    server.make_bucket(BUCKET)
    for count in sizes.s1_counts:
        bench.log(f"S1: writing {count} files of {sizes.s1_size} B")
        dest = server.data_dir / BUCKET / f"s1-{count}"
        write_tree([home / f"src-{count}", dest], names(count), sizes.s1_size)
    with server:
        for count in sizes.s1_counts:
            server.count(BUCKET, f"s1-{count}/")  # rclone computes its ETags now, untimed
        for count in sizes.s1_counts:
            for r in range(bench.runs_for(count, sizes.s1_counts)):
                for tool in bench.turn("S1", tools, r):
                    _pull(bench, tool, server, count, sizes.s1_size, r)
                    _push(bench, tool, server, count, sizes.s1_size, r)
    remove(home)


def _pull(bench: Bench, tool: Tool, server: BenchServer, count: int, size: int, r: int) -> None:
    dest = bench.folder("S1") / "pull"
    remove(dest)
    bench.ws.fresh_state("S1")
    place = Place(server, BUCKET, f"s1-{count}/", dest)
    nbytes = count * size
    bench.run(
        tool,
        "pull",
        place,
        scenario="S1",
        case="pull",
        run=r,
        files=count,
        nbytes=nbytes,
        verify=expect_local(dest, count, nbytes),
    )
    remove(dest)


def _push(bench: Bench, tool: Tool, server: BenchServer, count: int, size: int, r: int) -> None:
    prefix = "s1-push/"
    delete_prefix(server, BUCKET, prefix)
    bench.ws.fresh_state("S1")
    place = Place(server, BUCKET, prefix, bench.folder("S1") / f"src-{count}")
    nbytes = count * size
    bench.run(
        tool,
        "push",
        place,
        scenario="S1",
        case="push",
        run=r,
        files=count,
        nbytes=nbytes,
        verify=expect_remote(server, BUCKET, prefix, count, nbytes),
    )
    delete_prefix(server, BUCKET, prefix)


def run_s5(bench: Bench) -> None:
    size = bench.config.sizes.s5_size
    tools = bench.tools("S5", S5_TOOLS)
    home = bench.folder("S5")
    server = bench.server("S5")
    server.make_bucket(BUCKET)
    bench.log(f"S5: writing one file of {size} B (twice)")
    write_tree([home / "src", server.data_dir / BUCKET / "s5-pull"], ["big.bin"], size)
    with server:
        server.count(BUCKET, "s5-pull/")
        for r in range(bench.config.runs):
            for tool in bench.turn("S5", tools, r):
                _big_push(bench, tool, server, size, r)
                _big_pull(bench, tool, server, size, r)
    remove(home)


def _big_push(bench: Bench, tool: Tool, server: BenchServer, size: int, r: int) -> None:
    prefix = "s5-push/"
    delete_prefix(server, BUCKET, prefix)
    bench.ws.fresh_state("S5")
    place = Place(server, BUCKET, prefix, bench.folder("S5") / "src")
    verify = expect_remote(server, BUCKET, prefix, 1, size)
    bench.run(
        tool, "push", place, scenario="S5", case="push", run=r, files=1, nbytes=size, verify=verify
    )
    delete_prefix(server, BUCKET, prefix)


def _big_pull(bench: Bench, tool: Tool, server: BenchServer, size: int, r: int) -> None:
    dest = bench.folder("S5") / "pull"
    remove(dest)
    bench.ws.fresh_state("S5")
    place = Place(server, BUCKET, "s5-pull/", dest)
    verify = expect_local(dest, 1, size)
    bench.run(
        tool, "pull", place, scenario="S5", case="pull", run=r, files=1, nbytes=size, verify=verify
    )
    remove(dest)
