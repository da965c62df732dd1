"""Bad input: one clear line, never a crash, and never a change on disk or in the bucket.

Property tests draw options of the API (`sync`, `diff`, `Mirror`) and flags of the
command line with at least one bad value among good ones (wrong types, out of range,
NaN, inf, huge, empty, bytes for str, wrong containers, unknown names), and check
that the call fails with one `UsageError` (API) or exit 2 and one stderr line (CLI)
before touching anything: the local tree and the bucket's keys and ETags are compared
before and after every example.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bucketsync
from bucketsync import cli
from bucketsync.options import MAX_ATTEMPTS, MAX_JOBS, MAX_TIMEOUT
from reliability_figures import Figures
from reliakit import one_line_error, state_db
from s3env import S3Env

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OPTION_NAMES = {
    *("delete", "dry_run", "include", "exclude", "filter_rules", "jobs", "endpoint_url"),
    *("profile", "compare", "progress", "follow_symlinks", "connect_timeout"),
    *("read_timeout", "max_attempts", "lock_timeout"),
}


# --- the world: a local tree and a bucket, and snapshots of both -----------------------


@pytest.fixture(autouse=True)
def _cwd_in_the_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a folder below tmp_path: a bad side read as "." (e.g. "") must harm nothing
    outside the test, and shows up in the snapshot. (Before the options were checked,
    ``sync("s3://b/p", "", delete=True)`` emptied the current folder.)"""
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "keep.txt").write_text("a file in the current folder")
    monkeypatch.chdir(tmp_path / "cwd")


def _world(s3: S3Env, tmp_path: Path) -> tuple[Path, Path]:
    """A push source and a pull destination that a sync with --delete would both change."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (src / "a.txt").write_text("local a")
    (src / "d" / "b.txt").write_text("local b")
    dst.mkdir()
    (dst / "precious.txt").write_text("not on the remote: --delete would remove it")
    s3.put("p/a.txt", b"remote a, other content")
    s3.put("p/only-remote.txt", b"a push with --delete would remove it")
    return src, dst


def _disk(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path below root (the state and cache folders included): type, mode, content."""
    seen: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            st_ = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if name in files else ""
            seen[str(path.relative_to(root))] = (st_.st_mode, st_.st_size, st_.st_mtime_ns, digest)
    return seen


def _bucket(s3: S3Env) -> tuple[object, ...]:
    objects = s3.client.list_objects_v2(Bucket=s3.bucket).get("Contents", [])
    uploads = s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
    return tuple((o["Key"], o["ETag"]) for o in objects), tuple(u["Key"] for u in uploads)


@contextlib.contextmanager
def _unchanged(s3: S3Env, root: Path) -> Any:
    disk, bucket = _disk(root), _bucket(s3)
    yield
    assert _disk(root) == disk, "a failed call changed the local disk"
    assert _bucket(s3) == bucket, "a failed call changed the bucket"


# --- API options: good and bad values ----------------------------------------------------

_ANY_JUNK = st.one_of(
    st.none(),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.just(object()),
)
_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.just(10**400),
    st.just(10**5000),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0]),
)
_NOT_BOOL = st.one_of(_ANY_JUNK, _NUMBERS, st.text(max_size=5))
_NOT_STRS = st.one_of(
    st.binary(max_size=4),
    st.integers(),
    st.lists(st.one_of(st.integers(), st.binary(max_size=2), st.none()), min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=2), st.text(max_size=2), min_size=1, max_size=1),
)


def _not_int_in(low: int, high: int) -> st.SearchStrategy[Any]:
    outside = st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1))
    whole_floats = st.floats().filter(lambda x: not x.is_integer())
    return st.one_of(outside, st.just(10**5000), whole_floats, st.booleans(), _ANY_JUNK)


def _not_seconds(low_allowed: bool, high: float, none_ok: bool) -> st.SearchStrategy[Any]:
    def bad(x: Any) -> bool:
        if isinstance(x, bool) or not isinstance(x, int | float):
            return not (x is None and none_ok)
        try:
            f = float(x)
        except OverflowError:
            return True
        return not (math.isfinite(f) and (f > 0 or (low_allowed and f == 0)) and f <= high)

    return st.one_of(_NUMBERS, st.text(max_size=4), _ANY_JUNK).filter(bad)


_BAD_URLS = st.one_of(
    st.sampled_from(
        [
            "127.0.0.1:45123",
            "",
            " ",
            "localhost",
            "ftp://host",
            "http://",
            "https://:9000",
            "http://host:99999",
            "http://host:port",
            "http://[::1",
            "http://user:pw@host",
            "http://host/?q=1",
            "http://ho st",
            "http://host/\x1b[2J",
        ]
    ),
    st.text(max_size=12).filter(lambda s: not s.lower().startswith(("http://", "https://"))),
    _NOT_STRS,
)
_BAD_RULES = st.one_of(
    st.text(max_size=4),
    st.binary(max_size=4),
    st.integers(),
    st.lists(
        st.one_of(
            st.tuples(st.text(max_size=8), st.text(max_size=2)).filter(
                lambda r: r[0] not in ("include", "exclude")
            ),
            st.tuples(st.sampled_from(["include", "exclude"]), st.binary(max_size=2)),
            st.text(max_size=3),
            st.tuples(st.just("include"), st.just("a"), st.just("b")),
        ),
        min_size=1,
        max_size=3,
    ),
)

BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "delete": _NOT_BOOL,
    "dry_run": _NOT_BOOL,
    "follow_symlinks": _NOT_BOOL,
    "progress": _NOT_BOOL.filter(lambda x: x is not None),
    "jobs": _not_int_in(1, MAX_JOBS),
    "max_attempts": _not_int_in(1, MAX_ATTEMPTS),
    "connect_timeout": _not_seconds(False, MAX_TIMEOUT, none_ok=False),
    "read_timeout": _not_seconds(False, MAX_TIMEOUT, none_ok=False),
    "lock_timeout": _not_seconds(True, math.inf, none_ok=True),
    "endpoint_url": _BAD_URLS,
    "profile": st.one_of(st.sampled_from(["", " ", "\t", "a\nb", "\x1b"]), _NOT_STRS),
    "compare": st.one_of(
        st.text(max_size=10).filter(lambda s: s not in ("content", "size", "size-mtime")),
        st.none(),
        st.binary(max_size=4),
        st.just(["size"]),
    ),
    "include": _NOT_STRS,
    "exclude": _NOT_STRS,
    "filter_rules": _BAD_RULES,
}


def good_values(endpoint: str) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "delete": st.booleans(),
        "dry_run": st.booleans(),
        "follow_symlinks": st.booleans(),
        "progress": st.sampled_from([None, False]),
        "jobs": st.integers(1, 8),
        "max_attempts": st.integers(1, 3),
        "connect_timeout": st.floats(1, 30),
        "read_timeout": st.floats(1, 30),
        "lock_timeout": st.one_of(st.none(), st.floats(0, 5)),
        "endpoint_url": st.just(endpoint),
        "compare": st.sampled_from(["content", "size", "size-mtime"]),
        "include": st.one_of(st.text(max_size=4), st.lists(st.text(max_size=4), max_size=2)),
    }


@st.composite
def bad_options(draw: st.DrawFn, endpoint: str) -> tuple[dict[str, Any], set[str]]:
    """Options with at least one bad value or unknown name; and the names that are bad."""
    good = good_values(endpoint)
    options = {name: draw(good[name]) for name in draw(st.sets(st.sampled_from(sorted(good))))}
    bad_names = draw(st.sets(st.sampled_from(sorted(BAD_VALUES)), max_size=3))
    for name in bad_names:
        options[name] = draw(BAD_VALUES[name])
    unknown = draw(st.lists(st.text(min_size=1, max_size=8), max_size=1))
    unknown = [name for name in unknown if name not in OPTION_NAMES]
    if not bad_names and not unknown:
        unknown = ["dleete"]
    options.update({name: True for name in unknown})
    if "filter_rules" in bad_names:  # with include or exclude, it is refused either way
        options.pop("include", None)
    return options, {*bad_names, *(["unknown option"] if unknown else [])}


def _call(kind: str, src: Any, dst: Any, options: dict[str, Any]) -> Any:
    if kind == "sync":
        return bucketsync.sync(src, dst, **options)
    if kind == "diff":
        return bucketsync.diff(src, dst, **options)
    remote, local = (src, dst) if str(src).startswith("s3://") else (dst, src)
    mirror = bucketsync.Mirror(remote, local, **options)
    return mirror.pull() if kind == "pull" else mirror.push()


def test_delete_no_deletes_nothing(moto_s3: S3Env, tmp_path: Path) -> None:
    """The issue's case: any truthy value used to turn on deletes."""
    _, dst = _world(moto_s3, tmp_path)
    for value in ("no", "False", 0, 1, None, [False]):
        with _unchanged(moto_s3, tmp_path), pytest.raises(bucketsync.UsageError, match="delete"):
            bucketsync.sync(moto_s3.url("p"), dst, delete=value)
    assert (dst / "precious.txt").exists()


def test_bad_api_options_fail_at_once_and_change_nothing(
    moto_s3: S3Env, tmp_path: Path, figures: Figures
) -> None:
    src, dst = _world(moto_s3, tmp_path)
    url = moto_s3.url("p")

    @SETTINGS
    @given(
        kind=st.sampled_from(["sync", "diff", "pull", "push"]),
        push=st.booleans(),
        drawn=bad_options(moto_s3.endpoint_url),
    )
    def check(kind: str, push: bool, drawn: tuple[dict[str, Any], set[str]]) -> None:
        options, bad = drawn
        if kind in ("pull", "push"):
            push = kind == "push"
        args = (src, url) if push else (url, dst)
        with _unchanged(moto_s3, tmp_path), pytest.raises(bucketsync.BucketsyncError) as caught:
            _call(kind, *args, options)
        _assert_one_line_naming(caught.value, bad)
        figures.add("bad input: API options (hypothesis)", examples=1, bad_values=len(bad))

    check()


@SETTINGS
@given(
    side=st.one_of(
        st.none(),
        st.binary(max_size=4),
        st.integers(),
        st.just(""),
        st.text(max_size=4).map(lambda s: s + "\x00"),
        st.lists(st.text(max_size=2), max_size=1),
    ),
    first=st.booleans(),
    kind=st.sampled_from(["sync", "diff"]),
)
def test_bad_sides_fail_at_once(
    moto_s3: S3Env, tmp_path: Path, side: Any, first: bool, kind: str
) -> None:
    url = moto_s3.url("p")
    args = (side, url) if first else (url, side)
    with _unchanged(moto_s3, tmp_path), pytest.raises(bucketsync.UsageError) as caught:
        _call(kind, *args, {"delete": True})
    _assert_one_line_naming(caught.value, {"src" if first else "dst"})


def _assert_one_line_naming(error: BaseException, names: set[str]) -> None:
    assert isinstance(error, bucketsync.UsageError), repr(error)
    text = str(error)
    assert "\n" not in text and "\r" not in text and text.isprintable(), text
    assert any(text.startswith(name) for name in names), (text, names)


# --- CLI flags ---------------------------------------------------------------------------


def _int_flag_ok(text: str, high: int) -> bool:
    try:
        return 1 <= int(text) <= high
    except ValueError:
        return False


def _seconds_flag_ok(text: str, zero_ok: bool, high: float) -> bool:
    try:
        x = float(text)
    except ValueError:
        return False
    return math.isfinite(x) and (x > 0 or (zero_ok and x == 0)) and x <= high


_FLAG_TEXT = st.one_of(
    st.text(max_size=8),
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "99999999999999999999", "0", "-1", "2.5"]),
    st.just("9" * 5000),
)
BAD_FLAGS: dict[str, st.SearchStrategy[str]] = {
    "--jobs": _FLAG_TEXT.filter(lambda s: not _int_flag_ok(s, MAX_JOBS)),
    "--max-attempts": _FLAG_TEXT.filter(lambda s: not _int_flag_ok(s, MAX_ATTEMPTS)),
    "--read-timeout": _FLAG_TEXT.filter(lambda s: not _seconds_flag_ok(s, False, MAX_TIMEOUT)),
    "--connect-timeout": _FLAG_TEXT.filter(lambda s: not _seconds_flag_ok(s, False, MAX_TIMEOUT)),
    "--lock-timeout": _FLAG_TEXT.filter(lambda s: not _seconds_flag_ok(s, True, math.inf)),
    "--endpoint-url": _BAD_URLS.filter(lambda v: isinstance(v, str)),
    "--profile": st.sampled_from(["", " ", "\t", "a\nb", "\x1b[2J"]),
    "--compare": st.text(max_size=10).filter(lambda s: s not in ("content", "size", "size-mtime")),
}
GOOD_FLAGS = [
    ["--delete"],
    ["--json"],
    ["-q"],
    ["--no-progress"],
    ["--follow-symlinks"],
    ["--jobs", "4"],
    ["--include", "*.txt"],
    ["--exclude", "d/*"],
    ["--compare", "size"],
    ["--read-timeout", "5"],
]


@st.composite
def bad_argv(draw: st.DrawFn, src: str, url: str, dst: str) -> list[str]:
    command = draw(st.sampled_from(["sync", "diff"]))
    sides = [src, url] if draw(st.booleans()) else [url, dst]
    flags = [
        part for flag in draw(st.lists(st.sampled_from(GOOD_FLAGS), max_size=3)) for part in flag
    ]
    how = draw(st.sampled_from(["flag", "flag", "flag", "unknown", "missing"]))
    if how == "unknown":
        flags.append("--" + draw(st.text(min_size=1, max_size=8)).replace("=", ""))
    elif how == "missing":
        sides = sides[: draw(st.integers(0, 1))]
    else:
        flag = draw(st.sampled_from(sorted(BAD_FLAGS)))
        value = draw(BAD_FLAGS[flag])
        if command == "diff" and flag == "--lock-timeout":
            flags.append("--no-such-flag")  # diff has no --lock-timeout: refused anyway
        flags += [f"{flag}={value}"] if draw(st.booleans()) else [flag, value]
    return [command, *sides, *flags]


def _run_main(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1


def test_bad_cli_flags_exit_2_with_one_line_and_change_nothing(
    moto_s3: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], figures: Figures
) -> None:
    src, dst = _world(moto_s3, tmp_path)

    @SETTINGS
    @given(argv=bad_argv(str(src), moto_s3.url("p"), str(dst)))
    def check(argv: list[str]) -> None:
        capsys.readouterr()
        with _unchanged(moto_s3, tmp_path):
            code = _run_main(argv)
        out, err = capsys.readouterr()
        assert code == 2, (argv, err)
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("bucketsync: error: "), (argv, err)
        assert lines[0].isprintable() and out == "", (argv, err, out)
        figures.add("bad input: CLI flags (hypothesis)", examples=1)

    check()


@pytest.mark.parametrize(
    ("flags", "text"),
    [
        (["--jobs", "99999999999999999999"], "--jobs: must be an integer from 1 to 1024"),
        (["--endpoint-url", "127.0.0.1:45123"], "--endpoint-url: must be an http:// or https://"),
        (["--read-timeout", "nan"], "--read-timeout: must be a number of seconds"),
        (["--bogus\x1b[31m\nred"], "unrecognized arguments: --bogus\\x1b[31m\\nred"),
    ],
)
def test_bad_flags_in_a_real_process(
    moto_s3: S3Env, tmp_path: Path, flags: list[str], text: str
) -> None:
    src, _ = _world(moto_s3, tmp_path)
    with _unchanged(moto_s3, tmp_path):
        done = subprocess.run(
            [sys.executable, "-m", "bucketsync", "sync", str(src), moto_s3.url("p"), *flags],
            env=moto_s3.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert text in one_line_error(done, 2)


# --- the state database of another schema ------------------------------------------------


@pytest.mark.parametrize(
    "statements",
    [
        ["CREATE TABLE records (key TEXT PRIMARY KEY, etag TEXT, hash TEXT)"],
        ["CREATE TABLE scopes (id INTEGER PRIMARY KEY)", "PRAGMA user_version=7"],
    ],
    ids=["other-columns", "future-version"],
)
def test_a_state_database_of_another_schema_is_moved_aside(
    moto_s3: S3Env, tmp_path: Path, statements: list[str]
) -> None:
    src, _ = _world(moto_s3, tmp_path)
    path = state_db()
    path.parent.mkdir(parents=True)
    with contextlib.closing(sqlite3.connect(path)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()
    report = bucketsync.sync(src, moto_s3.url("p"), progress=False)
    assert report.uploaded == 2 and not report.errors
    aside = {p.name.split(".other-schema-")[0] for p in path.parent.glob("*.other-schema-*")}
    assert "state.sqlite3" in aside
    second = bucketsync.sync(src, moto_s3.url("p"), progress=False)
    assert second.uploaded == 0 and second.bytes_hashed == 0, "the new database remembers"


def test_a_malformed_endpoint_in_the_environment_is_one_line(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    """It used to be "unexpected error (AttributeError)", as for --endpoint-url."""
    src, _ = _world(moto_s3, tmp_path)
    env = {**moto_s3.env, "AWS_ENDPOINT_URL": moto_s3.endpoint_url.split("://")[1]}
    with _unchanged(moto_s3, tmp_path):
        done = subprocess.run(
            [sys.executable, "-m", "bucketsync", "sync", str(src), moto_s3.url("p")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert "AWS_ENDPOINT_URL must be an http:// or https:// URL" in one_line_error(done, 2)
