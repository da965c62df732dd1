"""Presigned S3 GET URLs (SigV4 query signing) with the standard library alone.

A no-change sync against a named endpoint needs only its listings, and importing
botocore's signer (with its compat layer and utilities) is a large part of the
start-up of such a sync. With the credentials in the environment, the first place
botocore's chain looks, a listing URL is signed here exactly as botocore's
`S3SigV4QueryAuth` signs it; otherwise `Connection` signs with botocore.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Keys:
    """An access key, its secret and an optional session token."""

    access_key: str
    secret_key: str
    token: str | None = None


def environment_keys() -> Keys | None:
    """The credentials botocore's environment provider would load, when they are plain
    keys: both names set, and no expiry (refreshable credentials stay botocore's)."""
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (access and secret) or os.environ.get("AWS_CREDENTIAL_EXPIRATION"):
        return None
    token = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN")
    return Keys(access, secret, token or None)


def presign_get(
    url: str,
    query: dict[str, str],
    keys: Keys,
    region: str,
    expires: int,
    now: datetime | None = None,
) -> str:
    """`url` (no query of its own) with `query`, signed for a GET of the `s3` service."""
    when = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{when[:8]}/{region}/s3/aws4_request"
    parts = urlsplit(url)
    params = dict(query)
    params.update(
        {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{keys.access_key}/{scope}",
            "X-Amz-Date": when,
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        }
    )
    if keys.token:
        params["X-Amz-Security-Token"] = keys.token
    canonical_query = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(params.items()))
    canonical = "\n".join(
        (
            "GET",
            quote(parts.path or "/", safe="/~"),
            canonical_query,
            f"host:{_host(parts.scheme, parts.netloc)}\n",
            "host",
            "UNSIGNED-PAYLOAD",
        )
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(
        _signing_key(keys.secret_key, when[:8], region),
        f"{ALGORITHM}\n{when}\n{scope}\n{digest}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return (
        f"{parts.scheme}://{parts.netloc}{parts.path}?{canonical_query}&X-Amz-Signature={signature}"
    )


def listing_url(
    endpoint: str, params: dict[str, str], keys: Keys, region: str, expires: int
) -> str:
    """A presigned path-style ListObjectsV2 URL from botocore's parameter names."""
    query = {"list-type": "2"}
    query.update((_QUERY_NAMES[k], v) for k, v in params.items() if k != "Bucket")
    url = f"{endpoint.rstrip('/')}/{quote(params['Bucket'], safe='')}"
    return presign_get(url, query, keys, region, expires)


_QUERY_NAMES = {
    "Prefix": "prefix",
    "EncodingType": "encoding-type",
    "StartAfter": "start-after",
    "ContinuationToken": "continuation-token",
    "MaxKeys": "max-keys",
    "Delimiter": "delimiter",
}


def _signing_key(secret: str, day: str, region: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _host(scheme: str, netloc: str) -> str:
    """The Host header as HTTP clients send it: without a default port."""
    default = {"http": ":80", "https": ":443"}.get(scheme)
    return netloc[: -len(default)] if default and netloc.endswith(default) else netloc


def _q(text: str) -> str:
    return quote(text, safe="-_.~")
