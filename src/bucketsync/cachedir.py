"""Where local copies live by default, and the per-key locks that guard them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from filelock import FileLock

from .location import S3Location
from .state import state_dir
from .stores.local import check_rel

CACHE_DIR_ENV = "BUCKETSYNC_CACHE_DIR"


def cache_dir() -> Path:
    """$BUCKETSYNC_CACHE_DIR, else the platform's per-user cache folder."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser().absolute()
    return platformdirs.user_cache_path("bucketsync") / "objects"


def endpoint_host(endpoint: str) -> str:
    """The endpoint's host (with its port, if any), as a folder name."""
    host = urlsplit(endpoint).netloc.rpartition("@")[2].lower()
    return host.replace(":", "_") if os.name == "nt" else host


def default_folder(endpoint: str, location: S3Location) -> Path:
    """`<cache>/<endpoint host>/<bucket>/<prefix>`: a key's copy is at `.../<bucket>/<key>`."""
    folder = cache_dir() / endpoint_host(endpoint) / location.bucket
    prefix = location.prefix.rstrip("/")
    if prefix:
        check_rel(prefix)
        folder = folder.joinpath(*prefix.split("/"))
    return folder


def key_lock(path: Path) -> FileLock:
    """A lock, shared by every process of this user, on the local copy at path."""
    digest = hashlib.sha256(os.fsencode(path.absolute())).hexdigest()[:32]
    folder = state_dir() / "locks" / "keys"  # apart from the folder locks of syncs
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f"{digest}.lock")
