"""bucketsync: keep a local folder and an S3 prefix identical, moving only what differs."""

from .api import diff, sync
from .cleanup import Cleared
from .errors import (
    AccessDenied,
    BucketNotFound,
    BucketsyncError,
    ChecksumMismatch,
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

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "Action",
    "BucketNotFound",
    "BucketsyncError",
    "ChecksumMismatch",
    "Cleared",
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
    "PathConflict",
    "Plan",
    "Problem",
    "RemoteChanged",
    "Report",
    "StateError",
    "TransferError",
    "UnsafeKey",
    "UsageError",
    "__version__",
    "diff",
    "fetch",
    "snapshot",
    "sync",
]
