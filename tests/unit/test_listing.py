"""Parsing a ListObjectsV2 page, as the fast listing does, on plain data."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from bucketsync.entries import datetime_ns
from bucketsync.stores.listing import _key, _timestamp_ns, parse_page
from bucketsync.stores.s3 import ClientSettings, Connection, make_client

PAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>p%2F</Prefix><IsTruncated>false</IsTruncated>
  <Contents><Key>p%2Fa+b%01%C3%BC</Key><LastModified>2026-11-26T12:00:49.463Z</LastModified>
    <ETag>&quot;9dd4e461268c8034f5c8564e155c67a6&quot;</ETag><Size>12</Size>
    <ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>
  </Contents>
  <Contents><Key>p%2Fz</Key><LastModified>2026-11-26T12:00:49Z</LastModified>
    <ETag>abc-2</ETag><Size>0</Size></Contents>
</ListBucketResult>"""


def test_page_fields_and_url_encoded_keys() -> None:
    page = parse_page(PAGE, "p/")
    first, second = page.objects
    assert page.next_token is None
    assert first.key == "p/a b\x01\u00fc" and first.rel == "a b\x01\u00fc"
    assert first.size == 12 and first.etag == "9dd4e461268c8034f5c8564e155c67a6"
    assert first.checksum_algorithm == "CRC64NVME" and first.checksum_type == "FULL_OBJECT"
    assert first.last_modified_ns == 1795694449463000000
    assert second.etag == "abc-2" and second.checksum_algorithm is None


def test_continuation_token_only_when_truncated() -> None:
    body = PAGE.replace(b"<IsTruncated>false", b"<IsTruncated>true").replace(
        b"</ListBucketResult>",
        b"<NextContinuationToken>a&amp;b==</NextContinuationToken></ListBucketResult>",
    )
    assert parse_page(body, "p/").next_token == "a&b=="
    assert (
        parse_page(
            PAGE.replace(b"</Name>", b"</Name><NextContinuationToken>x</NextContinuationToken>"),
            "p/",
        ).next_token
        is None
    )


def test_not_a_listing_is_an_error() -> None:
    import pytest

    from bucketsync.errors import TransferError

    with pytest.raises(TransferError):
        parse_page(b"<html>proxy error</html>", "p/")


@pytest.mark.parametrize("token", [None, "1/a+b==", "ü x"])
def test_listing_urls_signed_without_a_client_match_the_clients(
    monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    """A named endpoint's listing is signed from the session alone, exactly as botocore's
    client would sign it (same URL, same query, same signature in the same second)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok/en")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    settings = ClientSettings(endpoint_url="http://127.0.0.1:9/")
    params = {"Bucket": "bk", "Prefix": "data/ü x+y/", "EncodingType": "url"}
    if token:
        params["ContinuationToken"] = token
    mine = Connection(settings)
    client = Connection.of(make_client(settings), settings)  # slow to make: made once
    for _ in range(20):  # the two signatures must fall in the same second
        own = mine.presign("list_objects_v2", params)
        theirs = client.presign("list_objects_v2", params)
        if _query(own)["X-Amz-Date"] == _query(theirs)["X-Amz-Date"]:
            break
    assert urlsplit(own)._replace(query="") == urlsplit(theirs)._replace(query="")
    assert _query(own) == _query(theirs)
    assert _query(own)["X-Amz-Credential"][0].startswith("AKID/") and "eu-west-3" in own


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-26T12:00:49.463Z",
        "2026-11-26T12:00:49.999999Z",
        "2026-11-26T12:00:49Z",
        "1969-12-31T23:59:59.500Z",
        "1901-01-01T00:00:00.001Z",
        "2026-11-26T13:00:49.463+01:00",
    ],
)
def test_listing_timestamps_are_exact_nanoseconds(stamp: str) -> None:
    expected = datetime_ns(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    assert _timestamp_ns(stamp) == expected


@pytest.mark.parametrize(
    ("sent", "key"),
    [
        (b"p%2Fa+b", "p/a b"),
        (b"p/a%2Bb%252F", "p/a+b%2F"),
        (b"plain/key.txt", "plain/key.txt"),
        (b"%C3%BC%2F%01", "\u00fc/\x01"),
        (b"a&amp;b", "a&b"),
    ],
)
def test_url_encoded_keys_decode_as_unquote_plus_does(sent: bytes, key: str) -> None:
    assert _key(sent) == key


def test_listing_from_the_environment_needs_no_botocore_session() -> None:
    """With credentials and region in the environment and a named endpoint, a listing URL
    is signed without importing botocore's session and client (most of start-up)."""
    script = (
        "import sys\n"
        "from bucketsync.stores.s3 import ClientSettings, Connection\n"
        "c = Connection(ClientSettings(endpoint_url='http://127.0.0.1:9'))\n"
        "url = c.presign('list_objects_v2', {'Bucket': 'b', 'Prefix': 'p/'})\n"
        "assert 'X-Amz-Signature=' in url and 'AKID%2F' in url, url\n"
        "print(sorted(m for m in sys.modules if m in ('botocore.session', 'botocore.client')))\n"
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
