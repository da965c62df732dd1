"""The public names are a contract: pinned here, so a change to them is deliberate."""

from __future__ import annotations

import bucketsync

PUBLIC = {
    "sync",
    "diff",
    "check",
    "CheckReport",
    "PathCheck",
    "fetch",
    "Mirror",
    "LocalObjectCache",
    "Lock",
    "LockEntry",
    "LockfileError",
    "snapshot",
    "Plan",
    "Action",
    "Problem",
    "Report",
    "Cleared",
    "BucketsyncError",
    "UsageError",
    "NotFound",
    "LocalFolderNotFound",
    "LocalFolderError",
    "BucketNotFound",
    "ObjectNotFound",
    "AccessDenied",
    "CredentialsError",
    "EndpointError",
    "FolderBusy",
    "StateError",
    "UnsafeKey",
    "PathConflict",
    "ChecksumMismatch",
    "RemoteChanged",
    "LocalChanged",
    "TransferError",
    "MissingDependency",
    "OfflineWarning",
    "KeptWarning",
    "ConflictWarning",
    "SideVanished",
    "bisync",
    "__version__",
}


def test_public_names_are_pinned() -> None:
    assert set(bucketsync.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(bucketsync, name) is not None


def test_every_error_is_a_bucketsync_error_and_a_builtin() -> None:
    assert issubclass(bucketsync.NotFound, FileNotFoundError)
    assert issubclass(bucketsync.AccessDenied, PermissionError)
    assert issubclass(bucketsync.UsageError, ValueError)
    assert issubclass(bucketsync.EndpointError, ConnectionError)
    errors = [getattr(bucketsync, n) for n in PUBLIC if n.endswith(("Error", "Found", "Denied"))]
    for error in errors:
        assert issubclass(error, bucketsync.BucketsyncError), error
    usage_like = (bucketsync.UsageError, bucketsync.CredentialsError, bucketsync.BucketNotFound)
    assert all(e.exit_code == 2 for e in usage_like)


def test_a_dry_run_summary_says_what_it_would_move(tmp_path: object) -> None:
    from pathlib import Path

    from bucketsync.location import S3Location, SyncPair

    plan = bucketsync.Plan(SyncPair("push", Path("data"), S3Location("bucket")))
    plan.actions.append(bucketsync.Action("upload", "a", "new file", 2048))
    line = bucketsync.Report(plan, dry_run=True).summary_line()
    assert line.startswith("1 actions planned, 0 unchanged; would move 2.0 KiB")
    assert "moved 0 B" in bucketsync.Report(plan, dry_run=False).summary_line()
