"""One root error; each subclass also inherits the built-in it resembles.

Every error carries the process exit code the command-line tool uses for it:
2 when nothing was done (bad arguments, no bucket, no credentials, ...),
1 when a single file failed and the rest of the sync went on.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Literal


class BucketsyncError(Exception):
    """Root of every error bucketsync raises."""

    exit_code = 1


class UsageError(BucketsyncError, ValueError):
    """Bad arguments: a malformed URL, two local paths, an unknown option value."""

    exit_code = 2


class NotFound(BucketsyncError, FileNotFoundError):
    """Something that must exist does not."""

    exit_code = 2


class LocalFolderNotFound(NotFound):
    """The local folder named on the command line does not exist."""


class LocalFolderError(BucketsyncError, OSError):
    """The local folder cannot be created (a pull) or read (a push)."""

    exit_code = 2


class BucketNotFound(NotFound):
    """The bucket does not exist on this endpoint."""


class ObjectNotFound(NotFound):
    """The object does not exist (it may have been deleted since the listing)."""

    exit_code = 1


class AccessDenied(BucketsyncError, PermissionError):
    """The server refused the request for lack of permission."""

    exit_code = 2


class CredentialsError(BucketsyncError, PermissionError):
    """No credentials were found, or the server rejected them."""

    exit_code = 2


class EndpointError(BucketsyncError, ConnectionError):
    """The S3 endpoint could not be reached, or stopped answering."""

    exit_code = 2


class FolderBusy(BucketsyncError, BlockingIOError):
    """Another sync of the same local folder holds its lock (see `lock_timeout`)."""

    exit_code = 2


class StateError(BucketsyncError, OSError):
    """The state database cannot be opened."""

    exit_code = 2


class ClusterError(BucketsyncError, ConnectionError):
    """A Dask cluster cannot run the sync: Dask missing, no scheduler or no worker at
    the address, or workers that cannot see the local folder."""

    exit_code = 2


class SideVanished(NotFound):
    """A side of a two-way sync is empty or missing while the state database knew files
    there (an unmounted folder, a wrong prefix): nothing is deleted on the other side."""


class UnsafeKey(BucketsyncError, ValueError):
    """A key that cannot be mapped to a path inside the local folder."""


class PathConflict(BucketsyncError, FileExistsError):
    """A key needs a folder where there is a file, or the reverse."""


class ChecksumMismatch(BucketsyncError, OSError):
    """Transferred bytes do not match the checksum the other side holds."""


class RemoteChanged(BucketsyncError):
    """The remote object changed after it was listed; it was not overwritten."""


class LocalChanged(BucketsyncError):
    """A local file changed while it was being read."""


class NotARegularFile(BucketsyncError, OSError):
    """A local path to read is not a regular file (a FIFO, device, folder or link)."""


class ListingOrderError(BucketsyncError):
    """A listing was not sorted, so a streaming merge would be wrong."""


class TransferError(BucketsyncError):
    """A transfer failed for a reason not covered above."""


class MissingDependency(BucketsyncError, ImportError):
    """An optional package this feature needs is not installed."""


def side_of(error: BaseException) -> Literal["local", "remote"]:
    """Which side of a sync an error is about: a local file, or the bucket's object."""
    if isinstance(error, (PathConflict, LocalChanged)) or not isinstance(error, BucketsyncError):
        return "local"
    return "remote"


class OfflineWarning(UserWarning):
    """The S3 endpoint could not be reached, so a local copy was used unchecked."""


class KeptWarning(UserWarning):
    """A clean-up kept local files: not its own copies, or local changes not pushed."""


class ConflictWarning(UserWarning):
    """A path changed on both sides since they were last identical; the local copy was kept."""


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning]) -> None:
    """Warn about the caller's line: the first frame outside bucketsync (a notebook cell,
    a script), however deep in the package the warning was raised."""
    if sys.version_info >= (3, 12):
        warnings.warn(message, category, skip_file_prefixes=(_PACKAGE,))
        return
    frame, level = sys._getframe(1), 2  # stacklevel 2 is warn()'s caller
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
