"""Multipart uploads in progress on the server: their parts, and the open uploads of a
prefix. The requests that resuming an upload, and aborting an abandoned one, need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import errors
from .errors import translated
from .s3 import S3Store


@dataclass(frozen=True)
class ServerPart:
    """A part the server holds for an upload: its number, ETag (unquoted), size, and
    CRC64NVME if the server lists it."""

    number: int
    etag: str
    size: int
    crc64nvme: str | None = None


class UploadGone(errors.TransferError):
    """The server does not know the upload (aborted, completed, or expired)."""


def list_parts(store: S3Store, key: str, upload_id: str) -> dict[int, ServerPart]:
    """The parts the server holds for the upload, by number (ListParts, every page);
    UploadGone if it no longer knows the upload."""
    found: dict[int, ServerPart] = {}
    marker = 0
    while True:
        kwargs: dict[str, Any] = {"Bucket": store.bucket, "Key": key, "UploadId": upload_id}
        if marker:
            kwargs["PartNumberMarker"] = marker
        try:
            with translated(f"{key} (its upload's parts)"):
                page = store.client.list_parts(**kwargs)
        except errors.BucketsyncError as e:
            if "NoSuchUpload" in str(e) or isinstance(e, errors.ObjectNotFound):
                raise UploadGone(f"{key}: the server no longer knows the upload") from e
            raise
        for part in page.get("Parts", ()):
            number = int(part["PartNumber"])
            etag, crc = str(part["ETag"]).strip('"'), part.get("ChecksumCRC64NVME")
            found[number] = ServerPart(number, etag, int(part["Size"]), crc)
        following = int(page.get("NextPartNumberMarker") or 0)
        if not page.get("IsTruncated") or following <= marker:
            return found
        marker = following


def open_uploads(store: S3Store, prefix: str) -> set[tuple[str, str]] | None:
    """(key, upload id) of every multipart upload open under prefix
    (ListMultipartUploads, every page); None where the server cannot list them."""
    found: set[tuple[str, str]] = set()
    kwargs: dict[str, Any] = {"Bucket": store.bucket, "Prefix": prefix}
    while True:
        try:
            with translated(f"{prefix} (open uploads)"):
                page = store.client.list_multipart_uploads(**kwargs)
        except errors.BucketsyncError:
            return None  # rclone serve s3 has no ListMultipartUploads
        found.update((str(u["Key"]), str(u["UploadId"])) for u in page.get("Uploads", ()))
        if not page.get("IsTruncated"):
            return found
        key, upload = page.get("NextKeyMarker"), page.get("NextUploadIdMarker")
        if not key or (key, upload) == (kwargs.get("KeyMarker"), kwargs.get("UploadIdMarker")):
            return found
        kwargs.update(KeyMarker=key, UploadIdMarker=upload or "")
