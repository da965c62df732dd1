"""The options' checks, as plain data: what each option allows, and the one-line message."""

from __future__ import annotations

import fractions
import math
from pathlib import Path
from typing import Any

import pytest

import bucketsync
from bucketsync import UsageError
from bucketsync.job import SyncOptions as JobSyncOptions
from bucketsync.options import MAX_JOBS, SyncOptions, one_line, shown

HUGE = 99999999999999999999

BAD: list[tuple[dict[str, Any], str]] = [
    ({"delete": "no"}, "delete must be True or False, not 'no'"),
    ({"delete": 1}, "delete must be True or False, not 1"),
    ({"dry_run": None}, "dry_run must be True or False, not None"),
    ({"follow_symlinks": "false"}, "follow_symlinks must be True or False"),
    ({"progress": 0}, "progress must be True or False, or None (the default), not 0"),
    ({"jobs": 2.5}, f"jobs must be an integer from 1 to {MAX_JOBS}, not 2.5"),
    ({"jobs": 0}, "jobs must be an integer from 1"),
    ({"jobs": MAX_JOBS + 1}, "jobs must be"),
    ({"jobs": HUGE}, f"not {HUGE}"),
    ({"jobs": 10**5000}, "not an int of more than 4300 digits"),
    ({"jobs": True}, "jobs must be"),
    ({"jobs": "4"}, "jobs must be"),
    ({"max_attempts": 0}, "max_attempts must be an integer from 1 to 100, not 0"),
    ({"max_attempts": 101}, "max_attempts must be"),
    ({"read_timeout": math.nan}, "read_timeout must be a number of seconds above 0, at most 86400"),
    ({"read_timeout": math.inf}, "not inf"),
    ({"connect_timeout": 0}, "connect_timeout must be a number of seconds above 0"),
    ({"connect_timeout": -1.0}, "connect_timeout must be"),
    ({"connect_timeout": 86401}, "connect_timeout must be"),
    ({"connect_timeout": "5"}, "connect_timeout must be"),
    ({"read_timeout": 10**400}, "read_timeout must be"),
    ({"read_timeout": fractions.Fraction(10**400)}, "read_timeout must be"),
    ({"lock_timeout": -0.5}, "lock_timeout must be a finite number of seconds >= 0, or None"),
    ({"lock_timeout": -math.inf}, "lock_timeout must be"),
    ({"lock_timeout": math.inf}, "lock_timeout must be"),
    ({"endpoint_url": "127.0.0.1:45123"}, "endpoint_url must be an http:// or https:// URL"),
    ({"endpoint_url": ""}, "endpoint_url must be"),
    ({"endpoint_url": "ftp://host"}, "endpoint_url must be"),
    ({"endpoint_url": "http://"}, "endpoint_url must be"),
    ({"endpoint_url": "http://host:99999"}, "endpoint_url must be"),
    ({"endpoint_url": "http://host:port"}, "endpoint_url must be"),
    ({"endpoint_url": "http://[::1"}, "endpoint_url must be"),
    ({"endpoint_url": "http://user:secret@host"}, "endpoint_url must be"),
    ({"endpoint_url": "http://host/\n"}, "endpoint_url must be"),
    ({"endpoint_url": b"http://host"}, "endpoint_url must be"),
    ({"profile": ""}, "profile must be a non-empty profile name"),
    ({"profile": "  "}, "profile must be"),
    ({"profile": 3}, "profile must be"),
    ({"compare": "md5"}, "compare must be one of content, size, size-mtime, not 'md5'"),
    ({"compare": None}, "compare must be one of"),
    ({"compare": ["size"]}, "compare must be one of"),
    ({"include": [1]}, "include must be a str or an iterable of str"),
    ({"include": b"*.txt"}, "include must be a str or an iterable of str"),
    ({"exclude": [b"*.txt"]}, "exclude must be"),
    ({"exclude": 3}, "exclude must be"),
    ({"exclude": {"a": 1}}, "exclude must be"),
    ({"filter_rules": [("inc", "*")]}, "filter_rules must be an iterable of"),
    ({"filter_rules": ["ex"]}, "filter_rules must be"),
    ({"filter_rules": [("include", 1)]}, "filter_rules must be"),
    ({"filter_rules": ("include", "*")}, "filter_rules must be"),
    ({"filter_rules": "include"}, "filter_rules must be"),
    ({"filter_rules": [("include", "*")], "exclude": "x"}, "not both"),
    ({"dleete": True}, "unknown option 'dleete' (did you mean delete?)"),
    ({"\x1b[2J": 1}, "unknown option '\\x1b[2J'"),
]


@pytest.mark.parametrize(("options", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_a_bad_option_is_one_usage_error_naming_it(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        SyncOptions.from_dict(options)
    text = str(caught.value)
    assert message in text and "\n" not in text and len(text) < 400, text
    assert caught.value.exit_code == 2


def test_good_options_are_normalised() -> None:
    options = SyncOptions.from_dict(
        {
            "include": "*.csv",
            "exclude": (p for p in ["a", "b"]),
            "jobs": MAX_JOBS,
            "read_timeout": 1,
            "connect_timeout": fractions.Fraction(1, 2),
            "lock_timeout": 0,
            "endpoint_url": "https://[::1]:9000/",
            "progress": None,
            "max_attempts": 100,
        }
    )
    assert options.include == ("*.csv",) and options.exclude == ("a", "b")
    assert options.read_timeout == 1.0 and isinstance(options.read_timeout, float)
    assert options.connect_timeout == 0.5 and options.lock_timeout == 0.0
    rules = SyncOptions.from_dict({"filter_rules": [["exclude", "*"], ("include", "a")]})
    assert rules.filter_rules == (("exclude", "*"), ("include", "a"))
    assert SyncOptions.from_dict({"include": None}).include == ()
    assert SyncOptions() == SyncOptions.from_dict({})
    assert JobSyncOptions is SyncOptions, "job.py re-exports it for older imports"


def test_a_made_options_object_is_checked_too() -> None:
    with pytest.raises(UsageError, match="delete must be"):
        SyncOptions(delete="no")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "side", [None, b"data", 3, "", "a\x00b", Path("a\x00b"), ["data"]], ids=repr
)
def test_a_bad_side_is_a_usage_error(
    side: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # "" was read as the current folder
    (tmp_path / "keep.txt").write_text("kept")
    for args in [(side, "s3://bucket/p"), ("s3://bucket/p", side)]:
        for call in (bucketsync.sync, bucketsync.diff):
            with pytest.raises(UsageError, match=r"^(src|dst) must be a non-empty str"):
                call(*args, delete=True, endpoint_url="http://127.0.0.1:9")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_mirror_and_fetch_check_their_own_arguments() -> None:
    cases: list[tuple[Any, str]] = [
        (lambda: bucketsync.Mirror("s3://bucket/p", max_age=math.nan), "max_age must be"),
        (lambda: bucketsync.Mirror("s3://bucket/p", max_age=math.inf), "max_age must be"),
        (lambda: bucketsync.Mirror("s3://bucket/p", max_age=-1), "max_age must be"),
        (lambda: bucketsync.Mirror("s3://bucket/p", max_age="5"), "max_age must be"),
        (lambda: bucketsync.Mirror("s3://bucket/p", offline=None), "offline must be one of"),
        (lambda: bucketsync.Mirror("s3://bucket/p", offline=["warn"]), "offline must be"),
        (lambda: bucketsync.Mirror("s3://bucket/p", local=b"x"), "local must be"),
        (lambda: bucketsync.Mirror(None), "url must be"),  # type: ignore[arg-type]
        (lambda: bucketsync.Mirror("s3://bucket/p", delete="no"), "delete must be"),
        (lambda: bucketsync.fetch(b"s3://bucket/k"), "url must be"),  # type: ignore[arg-type]
        (lambda: bucketsync.fetch("s3://bucket/k", max_age=math.nan), "max_age must be"),
        (lambda: bucketsync.fetch("s3://bucket/k", jobs=0), "jobs must be"),
    ]
    for make, message in cases:
        with pytest.raises(UsageError, match=message):
            make()


def test_messages_are_one_short_line() -> None:
    assert one_line("a\nb\x1b[31m\u2028\x85\udc80") == "a\\nb\\x1b[31m\\u2028\\x85\\udc80"
    assert shown("x" * 1000).endswith("...") and len(shown("x" * 1000)) == 60

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert shown(Hostile()) == "a Hostile"
