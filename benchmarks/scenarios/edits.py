"""S4: 1% of the files edited in place (same size, mtime restored): which edits each tool finds.

The local side is always the one edited: a push must upload the edits, a pull must restore
the server's bytes over them. (That is what happens in practice: an editor or a script
changes a file and its mtime is kept or restored; an object overwritten on S3 always gets
a new LastModified and ETag.) Before every run both sides are made identical again and
bucketsync, which keeps state, gets an untimed run on the identical trees; then the edits,
then the timed run, then the count of edits found, by comparing bytes.
"""

from __future__ import annotations

import random
import zlib

from ..data import edit_in_place, names, remove, restamp, write_tree
from ..results import Run
from ..runner import Bench
from ..tools import PEERS, Place, Tool
from .twin import Twin

BUCKET = "bench"
PREFIX = "s4/"
S4_TOOLS = ("bucketsync", *PEERS)


def run_s4(bench: Bench) -> None:
    sizes = bench.config.sizes
    tools = bench.tools("S4", S4_TOOLS)
    home = bench.folder("S4")
    server = bench.server("S4")
    server.make_bucket(BUCKET)
    rels = names(sizes.s4_count)
    bench.log(f"S4: writing {len(rels)} files of {sizes.s4_size} B (twice)")
    write_tree([home / "local", server.data_dir / BUCKET / PREFIX], rels, sizes.s4_size)
    edited = sorted(random.Random(4).sample(rels, max(1, round(len(rels) * sizes.s4_fraction))))
    originals = {rel: (home / "local" / rel).read_bytes() for rel in edited}
    with server:
        server.count(BUCKET, PREFIX)
        twin = Twin(server, BUCKET, PREFIX, home / "local")
        edits = Edits(twin, originals, len(rels) * sizes.s4_size)
        for direction in ("push", "pull"):
            bench.ws.fresh_state(f"S4-{direction}")
            for r in range(bench.config.runs):
                for tool in bench.turn("S4", tools, r):
                    edits.run(bench, tool, direction, r)
    remove(home)


class Edits:
    """Edit, sync, count what was found, put everything back."""

    def __init__(self, twin: Twin, originals: dict[str, bytes], nbytes: int) -> None:
        self.twin = twin
        self.originals = originals
        self.nbytes = nbytes
        self.files = len(list(twin.local.rglob("*.bin")))

    def run(self, bench: Bench, tool: Tool, direction: str, r: int) -> None:
        twin = self.twin
        place = Place(twin.server, twin.bucket, twin.prefix, twin.local)
        if tool.stateful:
            self._sync(bench, tool, direction, place, -1)
            self._restore(*twin.changes())
        seed = zlib.crc32(f"{direction}/{r}/{tool.name}".encode())
        rng = random.Random(seed)
        new = {rel: edit_in_place(twin.local / rel, rng) for rel in self.originals}
        result = self._sync(bench, tool, direction, place, r)
        found = sum(self._found(direction, rel, data) for rel, data in new.items())
        local, remote = twin.changes()
        others = set(local) | set(remote)
        others -= set(self.originals)
        result.extra.update(found=found, edited=len(new), other_rewritten=len(others))
        if found < len(new) or others:
            bench.log(f"  {tool.name}: found {found} of {len(new)} edits, {len(others)} others")
        self._restore(local, remote, force_local=True)

    def _sync(self, bench: Bench, tool: Tool, direction: str, place: Place, r: int) -> Run:
        return bench.run(
            tool,
            direction,
            place,
            scenario="S4",
            case=direction,
            run=r,
            files=self.files,
            nbytes=self.nbytes,
        )

    def _found(self, direction: str, rel: str, new: bytes) -> bool:
        if direction == "push":
            return (self.twin.remote / rel).read_bytes() == new
        return (self.twin.local / rel).read_bytes() == self.originals[rel]

    def _restore(self, local: list[str], remote: list[str], *, force_local: bool = False) -> None:
        """Pristine bytes and mtimes on both sides (the server's while it is stopped)."""
        twin = self.twin
        if force_local or local:
            for rel, data in self.originals.items():
                (twin.local / rel).write_bytes(data)
            restamp(twin.local, [*self.originals, *local])
        if remote:
            twin.server.stop()
            for rel in remote:
                if rel in self.originals:
                    (twin.remote / rel).write_bytes(self.originals[rel])
            restamp(twin.remote, remote)
            twin.server.start()
            twin.server.count(twin.bucket, twin.prefix)
        twin.rebase()
