"""S3Env: one test's bucket on one local S3 server, with small helpers around it."""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from dataclasses import dataclass
from typing import Any

from s3servers import S3Client, S3Server

_bucket_numbers = itertools.count(1)


def new_bucket_name() -> str:
    """A bucket name unique within and across test sessions: ``t-<counter>-<random>``."""
    return f"t-{next(_bucket_numbers)}-{secrets.token_hex(4)}"


@dataclass
class S3Env:
    """A fresh bucket on ``server``; ``client`` is a boto3 S3 client for it."""

    server: S3Server
    client: S3Client
    bucket: str

    @classmethod
    def create(cls, server: S3Server) -> S3Env:
        """Make a new, empty bucket on ``server``."""
        client = server.client()
        bucket = new_bucket_name()
        client.create_bucket(Bucket=bucket)
        return cls(server, client, bucket)

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess (e.g. the CLI): the current one plus the server's."""
        keep = ("BUCKETSYNC_STATE_DIR", "BUCKETSYNC_CACHE_DIR")
        return {**os.environ, **self.server.env(), **{k: os.environ[k] for k in keep}}

    def url(self, prefix: str = "") -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.bucket}/{prefix}"

    def put(self, key: str, data: bytes, **extra: Any) -> str:
        """Upload ``data`` to ``key``; returns the ETag as the server sent it (quoted)."""
        etag: str = self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)["ETag"]
        return etag

    def get(self, key: str) -> bytes:
        """The body of ``key``."""
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def head(self, key: str, **extra: Any) -> dict[str, Any]:
        """The HeadObject response for ``key``."""
        response: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key, **extra)
        return response

    def keys(self, prefix: str = "") -> list[str]:
        """All keys under ``prefix``, over all pages, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def destroy(self) -> None:
        """Best effort: abort uploads, delete every object, then the bucket."""
        with contextlib.suppress(Exception):
            uploads = self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
            for up in uploads:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"]
                )
        with contextlib.suppress(Exception):
            keys = self.keys()
            for start in range(0, len(keys), 1000):
                objects = [{"Key": k} for k in keys[start : start + 1000]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})
            self.client.delete_bucket(Bucket=self.bucket)
