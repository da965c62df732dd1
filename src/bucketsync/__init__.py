"""bucketsync: keep a local folder and an S3 prefix identical, moving only what differs.

The names below are imported on first use (PEP 562), so a command-line run loads
only the modules its command needs: start-up is most of a no-change sync's time.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AccessDenied,
    BucketNotFound,
    BucketsyncError,
    ChecksumMismatch,
    ConflictWarning,
    CredentialsError,
    EndpointError,
    FolderBusy,
    KeptWarning,
    LocalChanged,
    LocalFolderError,
    LocalFolderNotFound,
    MissingDependency,
    NotFound,
    ObjectNotFound,
    OfflineWarning,
    PathConflict,
    RemoteChanged,
    SideVanished,
    StateError,
    TransferError,
    UnsafeKey,
    UsageError,
)

if TYPE_CHECKING:
    from .api import diff, sync
    from .checkreport import CheckReport, PathCheck
    from .cleanup import Cleared
    from .legacy import LocalObjectCache
    from .lockfile import Lock, LockEntry, LockfileError
    from .mirror import Mirror, fetch
    from .plan import Action, Plan, Problem
    from .report import Report
    from .snapshots import snapshot
    from .twoway import bisync
    from .verify import check

_LAZY = {
    "diff": "api",
    "sync": "api",
    "CheckReport": "checkreport",
    "PathCheck": "checkreport",
    "Cleared": "cleanup",
    "LocalObjectCache": "legacy",
    "Lock": "lockfile",
    "LockEntry": "lockfile",
    "LockfileError": "lockfile",
    "Mirror": "mirror",
    "fetch": "mirror",
    "Action": "plan",
    "Plan": "plan",
    "Problem": "plan",
    "Report": "report",
    "snapshot": "snapshots",
    "bisync": "twoway",
    "check": "verify",
}

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "Action",
    "BucketNotFound",
    "BucketsyncError",
    "CheckReport",
    "ChecksumMismatch",
    "Cleared",
    "ConflictWarning",
    "CredentialsError",
    "EndpointError",
    "FolderBusy",
    "KeptWarning",
    "LocalChanged",
    "LocalFolderError",
    "LocalFolderNotFound",
    "LocalObjectCache",
    "Lock",
    "LockEntry",
    "LockfileError",
    "Mirror",
    "MissingDependency",
    "NotFound",
    "ObjectNotFound",
    "OfflineWarning",
    "PathCheck",
    "PathConflict",
    "Plan",
    "Problem",
    "RemoteChanged",
    "Report",
    "SideVanished",
    "StateError",
    "TransferError",
    "UnsafeKey",
    "UsageError",
    "__version__",
    "bisync",
    "check",
    "diff",
    "fetch",
    "snapshot",
    "sync",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
