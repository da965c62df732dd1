"""Do the workers see the local folder at the same path? Checked before any transfer.

A sync writes a marker (a temporary file of ours, holding a random token) in the
folder; every worker must read the token back from the same path. A diff, which
writes nothing, compares what every worker sees of the folder itself: its inode
number and the names in it. A worker that sees another folder, or none, is named in
the error (exit 2). Workers that join after the check are not checked.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from ..errors import ClusterError
from ..stores.local import claim_temp, release_temp, write_all
from . import task

MARKER = "cluster-check"


def check(client: Any, root: Path, *, write: bool) -> None:
    """ClusterError unless every worker of `client` sees the folder `root` as we do."""
    if write:
        temp, fd = claim_temp(root / MARKER)
        try:
            token = secrets.token_hex(16)
            write_all(fd, token.encode("ascii"))
            seen = client.run(task.sees, str(temp), token)
        finally:
            release_temp(temp, fd)
    else:
        seen = client.run(task.looks_like, str(root), task.looks(str(root)))
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise ClusterError(
            f"{root}: workers cannot see the folder at this path ({len(blind)} of"
            f" {len(seen)}: {', '.join(blind)}); they need it on a shared file system"
        )
