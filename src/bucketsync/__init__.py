"""bucketsync: keep a local folder and an S3 prefix identical, moving only what differs."""

from .api import diff, sync
from .errors import (
    AccessDenied,
    BucketNotFound,
    BucketsyncError,
    ChecksumMismatch,
    CredentialsError,
    EndpointError,
    LocalFolderNotFound,
    NotFound,
    ObjectNotFound,
    PathConflict,
    RemoteChanged,
    UnsafeKey,
    UsageError,
)
from .plan import Action, Plan, Problem
from .report import Report

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "Action",
    "BucketNotFound",
    "BucketsyncError",
    "ChecksumMismatch",
    "CredentialsError",
    "EndpointError",
    "LocalFolderNotFound",
    "NotFound",
    "ObjectNotFound",
    "PathConflict",
    "Plan",
    "Problem",
    "RemoteChanged",
    "Report",
    "UnsafeKey",
    "UsageError",
    "__version__",
    "diff",
    "sync",
]
