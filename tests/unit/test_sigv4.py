"""The standard-library SigV4 presigner: AWS's published example, and botocore's signer."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bucketsync.stores.sigv4 import Keys, environment_keys, presign_get

EXAMPLE = Keys("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def test_the_example_of_the_s3_documentation() -> None:
    """ "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)"."""
    when = datetime(2013, 5, 24, tzinfo=timezone.utc)
    url = presign_get(
        "https://examplebucket.s3.amazonaws.com/test.txt", {}, EXAMPLE, "us-east-1", 86400, when
    )
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Signature"] == [
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    ]


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzE+/=token"])
@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:9000", "https://s3.example.com", "http://host:80"]
)
def test_signs_a_listing_url_as_botocore_does(endpoint: str, token: str | None) -> None:
    query = {
        "list-type": "2",
        "prefix": "data/é ü+&=/~x",
        "encoding-type": "url",
        "start-after": "data/é ü+&=/~x/\U0001f600",
        "continuation-token": "1/abc+def==",
        "delimiter": "/",
    }
    url = f"{endpoint}/my-bucket"
    request = AWSRequest(method="GET", url=url, params=query)
    credentials = Credentials(EXAMPLE.access_key, EXAMPLE.secret_key, token)
    S3SigV4QueryAuth(credentials, "s3", "eu-west-3", expires=900).add_auth(request)
    theirs = urlsplit(str(request.prepare().url))
    when = datetime.strptime(parse_qs(theirs.query)["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    keys = Keys(EXAMPLE.access_key, EXAMPLE.secret_key, token)
    ours = urlsplit(presign_get(url, query, keys, "eu-west-3", 900, when))
    assert (ours.scheme, ours.netloc, ours.path) == (theirs.scheme, theirs.netloc, theirs.path)
    assert parse_qs(ours.query) == parse_qs(theirs.query)


def test_environment_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    assert environment_keys() == Keys("AK", "SK")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "T")
    assert environment_keys() == Keys("AK", "SK", "T")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "2030-01-01T00:00:00Z")
    assert environment_keys() is None  # refreshable: botocore's business
    monkeypatch.delenv("AWS_CREDENTIAL_EXPIRATION")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    assert environment_keys() is None  # partial: botocore's chain says what is wrong
