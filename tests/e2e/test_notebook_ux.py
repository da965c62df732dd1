"""The notebook API as a user meets it: the requests a Mirror counts, and warnings
that point at the user's own line."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import bucketsync
from s3env import S3Env
from s3servers import start_moto


def _total(requests: dict[str, int]) -> int:
    return sum(requests.values())


def test_mirror_requests_count_everything_the_mirror_sent(s3: S3Env, tmp_path: Path) -> None:
    s3.put("p/a.txt", b"a")
    s3.put("p/b.txt", b"b")
    m = bucketsync.Mirror(s3.url("p"), tmp_path / "m")
    assert _total(m.requests) == 0
    m.diff()
    assert m.requests["list"] == 1 and _total(m.requests) == 1, "diff() lists once"
    report = m.pull()
    assert m.requests["list"] == 2 and m.requests["get"] == report.requests["get"] == 2
    m.path("a.txt")
    assert m.requests["get"] == 3, "path(): one conditional GET"
    with m.open("c.txt", "w") as f:
        f.write("c")
    push = m.push()
    assert m.requests["put"] == push.requests["put"] >= 1
    before = m.requests
    m.close()
    assert m.requests == before, "closing keeps the count"
    m.path("b.txt")
    assert m.requests["get"] == before["get"] + 1
    assert set(m.requests) == {"list", "head", "get", "put", "delete", "other"}


def test_offline_warnings_point_at_the_callers_line(tmp_path: Path) -> None:
    server = start_moto()
    try:
        server.client().create_bucket(Bucket="offline-line")
        server.client().put_object(Bucket="offline-line", Key="d/k.txt", Body=b"cached")
        url = server.endpoint_url
        m = bucketsync.Mirror("s3://offline-line/d/", endpoint_url=url, max_attempts=1)
        m.path("k.txt")
        bucketsync.fetch("s3://offline-line/d/k.txt", endpoint_url=url, max_attempts=1)
    finally:
        server.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.path("k.txt")
        m.open("k.txt").close()
        bucketsync.fetch("s3://offline-line/d/k.txt", endpoint_url=url, max_attempts=1)
    assert [w.category for w in caught] == [bucketsync.OfflineWarning] * 3
    assert [Path(w.filename) for w in caught] == [Path(__file__)] * 3, [
        (w.filename, w.lineno) for w in caught
    ]


@pytest.mark.parametrize(
    ("name", "meant"), [("max_aeg", "max_age"), ("ofline", "offline"), ("jbos", "jobs")]
)
def test_a_misspelt_option_names_itself_and_the_valid_ones(name: str, meant: str) -> None:
    for call in (
        lambda: bucketsync.Mirror("s3://bkt/p", **{name: 1}),
        lambda: bucketsync.fetch("s3://bkt/p/k", **{name: 1}),
    ):
        with pytest.raises(bucketsync.UsageError) as raised:
            call()
        message = str(raised.value)
        assert message.startswith(f"unknown option '{name}' (did you mean {meant}?);"), message
        assert "the options are local, max_age, offline, max_size, delete, dry_run" in message
