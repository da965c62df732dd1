"""`check`'s result type and options, and the verdicts it maps to statuses, on plain data."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

import bucketsync
from bucketsync.checkreport import STATUSES, CheckReport, PathCheck
from bucketsync.compare import Facts, RemoteFacts, decide
from bucketsync.entries import LocalFile, RemoteObject
from bucketsync.verify import CheckOptions

PATHS = (
    PathCheck("a", "same", "CRC64NVME matches"),
    PathCheck("b", "differ", "content differs (CRC64NVME)"),
    PathCheck("c\x1b[2Jx", "missing", "only on the source"),
    PathCheck("<d>", "extra", "only on the destination"),
    PathCheck("e", "unknown", "no usable checksum on the remote object; --download settles it"),
)


def _report(paths: tuple[PathCheck, ...] = PATHS) -> CheckReport:
    return CheckReport("/data", "s3://b/p/", paths, requests={"get": 0}, seconds=0.5)


def test_counts_and_json_shape() -> None:
    report = _report()
    out = report.to_dict()
    assert list(out)[:6] == [*STATUSES, "paths"]
    assert [out[s] for s in STATUSES] == [1, 1, 1, 1, 1]
    assert (report.same, report.differ, report.missing, report.extra, report.unknown) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert out["paths"][2] == {"path": "c\x1b[2Jx", "status": "missing", "reason": PATHS[2].reason}
    json.dumps(out)
    assert not report.ok and report.exit_code == 1
    same = _report((PATHS[0],))
    assert same.ok and same.exit_code == 0
    assert _report(()).ok  # nothing on either side: nothing differs


def test_public_picklable_and_frozen() -> None:
    report = _report()
    assert type(report).__module__ == "bucketsync" and bucketsync.CheckReport is CheckReport
    assert PathCheck.__module__ == "bucketsync"
    back = pickle.loads(pickle.dumps(report))
    assert back == report and back.paths == PATHS and back.requests == {"get": 0}
    assert copy.deepcopy(report) == report
    with pytest.raises(AttributeError):
        report.paths = ()  # type: ignore[misc]


def test_text_and_html_escape_keys() -> None:
    report = _report()
    text = str(report)
    assert "\x1b" not in text and "\x1b" not in repr(report)
    lines = text.splitlines()
    assert lines[0] == "differ  b (content differs (CRC64NVME))"
    assert lines[1] == "missing c\\x1b[2Jx (only on the source)"
    assert lines[-1].startswith("1 same, 1 differ, 1 missing, 1 extra, 1 unknown;")
    assert len(lines) == 5  # four paths that are not the same, and the summary
    assert repr(report).startswith("<CheckReport /data -> s3://b/p/: 1 same, 1 differ")
    html = report._repr_html_()
    assert "&lt;d&gt;" in html and "<d>" not in html and "\x1b" not in html
    assert "All paths are the same" in _report((PATHS[0],))._repr_html_()


def test_options_are_checked() -> None:
    assert CheckOptions().sync_options().dry_run
    assert CheckOptions(include="*.txt").include == ("*.txt",)
    with pytest.raises(bucketsync.UsageError, match="jobs"):
        CheckOptions(jobs=0)
    with pytest.raises(bucketsync.UsageError, match="download"):
        CheckOptions(download=1)  # type: ignore[arg-type]
    with pytest.raises(bucketsync.UsageError, match="unknown option 'delete'"):
        CheckOptions.from_dict({"delete": True})
    with pytest.raises(bucketsync.UsageError):
        CheckOptions(include="a", filter_rules=[("exclude", "b")])  # type: ignore[arg-type]


def test_bad_sides_are_usage_errors(tmp_path: object) -> None:
    with pytest.raises(bucketsync.UsageError):
        bucketsync.check("a", "b")
    with pytest.raises(bucketsync.UsageError):
        bucketsync.check(None, "s3://b/p")  # type: ignore[arg-type]


def test_nothing_usable_is_unsettled_a_real_difference_is_not() -> None:
    """`check` calls rule 7's "changed" unknown, and only that one."""
    size = 20 * 1024 * 1024
    local = LocalFile("big", size, 0, 0, 1, 1)
    remote = RemoteObject("big", "big", size, "opaque-etag", 0)
    nothing = decide(Facts(local, remote, head=RemoteFacts(etag="opaque-etag")))
    assert nothing.same is False and nothing.unsettled
    head = RemoteFacts(etag="opaque-etag", checksums={"crc64nvme": "AAAAAAAAAAE="})
    found = decide(Facts(local, remote, head=head, digests={"crc64nvme": "AAAAAAAAAAI="}))
    assert found.same is False and not found.unsettled
    smaller = RemoteObject("big", "big", size - 1, "opaque-etag", 0)
    assert not decide(Facts(local, smaller)).unsettled
