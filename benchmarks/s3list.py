"""A minimal S3 listing over raw HTTP (SigV4-signed GETs, ElementTree): standard library only.

It is the listing half of the S2 floor, and the harness uses it to count objects quickly.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Listed:
    key: str
    size: int
    etag: str  # without quotes


@dataclass(frozen=True)
class Credentials:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


def list_objects(creds: Credentials, bucket: str, prefix: str = "") -> Iterator[Listed]:
    """Every object below `prefix`, page by page (ListObjectsV2, 1000 keys a page)."""
    url = urlsplit(creds.endpoint_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=120)
    token = ""
    try:
        while True:
            params = {"list-type": "2", "prefix": prefix}
            if token:
                params["continuation-token"] = token
            root = ET.fromstring(_get(conn, url.netloc, creds, f"/{bucket}", params))
            for item in root.iter(f"{_NS}Contents"):
                yield Listed(
                    item.findtext(f"{_NS}Key", ""),
                    int(item.findtext(f"{_NS}Size", "0")),
                    item.findtext(f"{_NS}ETag", "").strip('"'),
                )
            token = root.findtext(f"{_NS}NextContinuationToken", "")
            if root.findtext(f"{_NS}IsTruncated", "false") != "true" or not token:
                return
    finally:
        conn.close()


def count_objects(creds: Credentials, bucket: str, prefix: str = "") -> tuple[int, int]:
    """Number and total size of the objects below `prefix`."""
    count = total = 0
    for obj in list_objects(creds, bucket, prefix):
        count += 1
        total += obj.size
    return count, total


def _get(
    conn: http.client.HTTPConnection,
    host: str,
    creds: Credentials,
    path: str,
    params: dict[str, str],
) -> bytes:
    query = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(params.items()))
    headers = _sign(creds, host, path, query)
    conn.request("GET", f"{path}?{query}", headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise OSError(f"listing {path} failed: HTTP {response.status}: {body[:300]!r}")
    return body


def _q(text: str) -> str:
    return quote(text, safe="-_.~")


def _sign(creds: Credentials, host: str, path: str, query: str) -> dict[str, str]:
    """SigV4 headers for a GET without a body."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    day = amz_date[:8]
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join(
        [
            "GET",
            quote(path, safe="/-_.~"),
            query,
            f"host:{host}\nx-amz-content-sha256:{_EMPTY_SHA256}\nx-amz-date:{amz_date}\n",
            signed,
            _EMPTY_SHA256,
        ]
    )
    scope = f"{day}/{creds.region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + creds.secret_key).encode()
    for part in (day, creds.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Host": host,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": _EMPTY_SHA256,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        ),
    }
