"""The pure parts of running a sync on a cluster: addresses, and what crosses machines."""

from __future__ import annotations

import pickle

import pytest

from bucketsync.cluster.address import Address, parse
from bucketsync.entries import LocalFile, Record
from bucketsync.errors import UsageError
from bucketsync.keyrange import KeyRange
from bucketsync.location import parse_pair
from bucketsync.plan import Plan
from bucketsync.report import Report
from bucketsync.result import RangeInterrupted, RangeResult


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("tcp://10.0.0.5:8786", Address(scheduler="tcp://10.0.0.5:8786")),
        ("tls://scheduler.example:443", Address(scheduler="tls://scheduler.example:443")),
        ("local:1", Address(local_workers=1)),
        ("local:256", Address(local_workers=256)),
    ],
)
def test_an_address_is_a_scheduler_or_local_workers(text: str, address: Address) -> None:
    assert parse(text) == address and str(address) == text


@pytest.mark.parametrize(
    "bad",
    [
        "local:0",
        "local:257",
        "local:",
        "tcp://host",
        "tcp://host:0",
        "tcp://host:70000",
        "http://host:8786",
        "host:8786",
        "",
        " local:2",
        8786,
        None,
    ],
)
def test_a_bad_address_names_what_is_allowed(bad: object) -> None:
    with pytest.raises(UsageError, match=r"^cluster must be tcp://HOST:PORT .*local:N"):
        parse(bad)


def test_a_record_matches_the_same_file_seen_from_another_machine() -> None:
    """NFS clients see one file with different device numbers: the fingerprint's other
    parts decide."""
    here = LocalFile("a", 3, 1_000, 2_000, 77, dev=64769)
    there = here._replace(dev=43)
    record = Record("a", here.fingerprint, False, "crc", None, "etag", 3, 0.0)
    assert record.local_matches(there)
    assert not record.local_matches(there._replace(ino=78))
    assert not record.local_matches(there._replace(mtime_ns=1_001))


def test_the_json_summary_has_cluster_only_when_one_was_used() -> None:
    plan = Plan(parse_pair("s3://bucket/p", "data"))
    report = Report(plan, dry_run=False)
    assert "cluster" not in report.to_dict()["summary"]
    report.cluster = {"workers": 2, "ranges": 8}
    assert report.to_dict()["summary"]["cluster"] == {"workers": 2, "ranges": 8}


def test_an_interrupted_range_carries_what_finished_and_pickles() -> None:
    result = RangeResult(
        KeyRange("a", "m"), Plan(parse_pair("s3://bucket/p", "data")), {"upload": 3}
    )
    interrupt = RangeInterrupted(result)
    assert isinstance(interrupt, KeyboardInterrupt) and interrupt.result.interrupted
    back = pickle.loads(pickle.dumps(result))
    assert back.interrupted and back.done == {"upload": 3} and back.key_range == KeyRange("a", "m")
