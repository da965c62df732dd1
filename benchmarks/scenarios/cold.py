"""S1 (cold pull, then cold push, of many 16 KiB files) and S5 (one large file).

Every run starts cold: an empty destination and an empty bucketsync state folder. The
tools take turns run by run (the order rotates), so drift on a shared machine spreads
over all of them. Each run is checked: the destination must hold every file and byte.
S1 deletes nothing between its timed runs: each pull lands in a new folder (the last one
is set aside, not deleted) and each push in a new prefix; all are removed at the end,
so no run pays for the file-system work of deleting the run before it (see set_aside).
"""

from __future__ import annotations

from .. import REPO
from ..data import names, remove, set_aside, write_tree
from ..measure import run_command
from ..runner import Bench, delete_prefix, expect_local, expect_remote
from ..servers import BenchServer
from ..tools import PEERS, Place, Tool, all_tools, tool_env

BUCKET = "bench"
S1_TOOLS = ("bucketsync", *PEERS)
S5_TOOLS = ("bucketsync", "aws", "s5cmd", "rclone", "origin")
PUSHED = "s1-push/"  # each S1 push writes below its own prefix under this one


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
    remove(home)  # the runs' copies too: pulls set aside here, pushes in the server's folder


def _pull(bench: Bench, tool: Tool, server: BenchServer, count: int, size: int, r: int) -> None:
    dest = bench.folder("S1") / "pull"
    trash = bench.folder("S1") / "pulled"
    set_aside(dest, trash)
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
    set_aside(dest, trash)


def _push(bench: Bench, tool: Tool, server: BenchServer, count: int, size: int, r: int) -> None:
    prefix = f"{PUSHED}{tool.name}-{count}-{r}/"
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


def run_s5(bench: Bench) -> None:
    """Push, then pull: every tool pulls the object bucketsync pushed (it carries a
    CRC64NVME, as every object new to AWS S3 does), and also one written straight
    into the server's folder, whose only checksum is its MD5 ETag ("pull-md5")."""
    size = bench.config.sizes.s5_size
    tools = bench.tools("S5", S5_TOOLS)
    home = bench.folder("S5")
    server = bench.server("S5")
    server.make_bucket(BUCKET)
    bench.log(f"S5: writing one file of {size} B (twice)")
    write_tree([home / "src", server.data_dir / BUCKET / "s5-md5"], ["big.bin"], size)
    with server:
        server.count(BUCKET, "s5-md5/")
        _seed(bench, server, Place(server, BUCKET, "s5-pull/", home / "src"))
        for r in range(bench.config.runs):
            for tool in bench.turn("S5", tools, r):
                _big_push(bench, tool, server, size, r)
                _big_pull(bench, tool, server, size, r, "s5-pull/", "pull")
                _big_pull(bench, tool, server, size, r, "s5-md5/", "pull-md5")
    remove(home)


def _seed(bench: Bench, server: BenchServer, place: Place) -> None:
    """Push the pull scenario's object with bucketsync, untimed and unrecorded."""
    tool = all_tools()["bucketsync"]
    bench.ws.fresh_state("S5")
    measured = run_command(
        tool.command("push", place, bench.ws), tool_env(place, bench.ws), cwd=REPO, timeout=600
    )
    if measured.exit_code != 0:
        raise RuntimeError(f"S5: bucketsync could not push the object to pull: {measured.stderr}")


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


def _big_pull(
    bench: Bench, tool: Tool, server: BenchServer, size: int, r: int, prefix: str, case: str
) -> None:
    dest = bench.folder("S5") / "pull"
    remove(dest)
    bench.ws.fresh_state("S5")
    place = Place(server, BUCKET, prefix, dest)
    verify = expect_local(dest, 1, size)
    bench.run(
        tool, "pull", place, scenario="S5", case=case, run=r, files=1, nbytes=size, verify=verify
    )
    remove(dest)
