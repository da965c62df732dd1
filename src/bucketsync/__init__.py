"""bucketsync: keep a local folder and an S3 prefix identical, moving only what differs."""

from .api import diff, sync
from .checkreport import CheckReport, PathCheck
from .cleanup import Cleared
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
from .legacy import LocalObjectCache
from .lockfile import Lock, LockEntry, LockfileError
from .mirror import Mirror, fetch
from .plan import Action, Plan, Problem
from .report import Report
from .snapshots import snapshot
from .twoway import bisync
from .verify import check

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
