"""A local tree and its identical copy in rclone's folder, and the repair of what a tool
changed, so one tool's transfers never change the conditions of the next."""

from __future__ import annotations

from pathlib import Path

from ..data import Snapshot, changed, restamp, snapshot
from ..servers import BenchServer


class Twin:
    """`local` and the server prefix hold the same files, all with the generated mtime."""

    def __init__(self, server: BenchServer, bucket: str, prefix: str, local: Path) -> None:
        self.server = server
        self.bucket = bucket
        self.prefix = prefix
        self.local = local
        self.remote = server.data_dir / bucket / prefix.rstrip("/")
        self._local: Snapshot = snapshot(local)
        self._remote: Snapshot = snapshot(self.remote)

    def changes(self) -> tuple[list[str], list[str]]:
        """Files rewritten (or added, removed) since the last check: local, remote."""
        return changed(self._local, snapshot(self.local)), changed(
            self._remote, snapshot(self.remote)
        )

    def repair(self, local: list[str], remote: list[str]) -> None:
        """Give rewritten files the generated mtime again (server side: while it is stopped)."""
        if local:
            restamp(self.local, local)
        if remote:
            self.server.stop()
            restamp(self.remote, remote)
            self.server.start()
            self.server.count(self.bucket, self.prefix)
        self.rebase()

    def rebase(self) -> None:
        self._local = snapshot(self.local)
        self._remote = snapshot(self.remote)
