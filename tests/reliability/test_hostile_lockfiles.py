"""Malformed and hostile lockfiles: one clear error line and exit code 2 for a lockfile
that is not one, never a traceback, and never a write outside the target folder
whatever its keys say (each goes through the same checks as a listed key)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bucketsync
from bucketsync.lockfile import FORMAT, Lock, LockfileError
from s3env import S3Env

BUCKETSYNC = str(Path(sys.executable).with_name("bucketsync"))
CRC = "AAAAAAAAAAA="
HOSTILE = [
    "../x",
    "a/../../x",
    "/abs",
    "a//b",
    "./a",
    "escape/x",
    "escape",
    "nul\x00x",
    "n" * 256,
    ".x.bucketsync-tmp-0123456789ab",
    "dir/",
]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUCKETSYNC, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def document(bucket: str = "bkt", prefix: str = "p/", **entry: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "bucket": bucket,
        "prefix": prefix,
        "endpoint": "127.0.0.1:9",
        "created": "2026-12-01T00:00:00.000000Z",
        "entries": [
            {"key": "p/a", "size": 1, "etag": "0" * 32, "version_id": None, **entry},
        ],
    }


# --- the format alone ---------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
FIELDS = ["format", "bucket", "prefix", "endpoint", "created", "entries", "versioned"]
ENTRY_FIELDS = ["key", "size", "etag", "version_id", "crc64nvme", "last_modified"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.binary(max_size=200)))
def test_any_json_or_bytes_loads_or_is_one_lockfile_error(value: Any) -> None:
    text = value if isinstance(value, bytes) else json.dumps(value)
    try:
        lock = Lock.loads(text)
    except LockfileError as e:
        assert "\n" not in str(e)
    else:
        assert all(entry.key.startswith(lock.prefix) for entry in lock)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(FIELDS + ENTRY_FIELDS),
    JSON,
    st.booleans(),
)
def test_a_field_replaced_loads_or_is_one_lockfile_error(name: str, value: Any, drop: bool) -> None:
    doc = document()
    target = doc if name in FIELDS else doc["entries"][0]
    if drop:
        target.pop(name, None)
    else:
        target[name] = value
    try:
        lock = Lock.loads(json.dumps(doc))
    except LockfileError as e:
        assert "\n" not in str(e) and str(e)
    else:
        assert all(entry.key.startswith(lock.prefix) for entry in lock)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=400))
def test_truncated_lockfile_is_one_error(cut: int) -> None:
    text = json.dumps(document(), indent=1)
    if cut >= len(text) - 1:
        return
    with pytest.raises(LockfileError):
        Lock.loads(text[:cut])


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser's recursion
        '{"format": "bucketsync-lock/1", "entries": [' + "1e99999" + "]}",
        json.dumps(document(size=True)),
        json.dumps(document(size=-1)),
        json.dumps(document(size=10**30)),
        json.dumps(document(key="q/a")),  # not below its prefix
        json.dumps(document(key="p/")),
        json.dumps(document(crc64nvme="not base64!")),
        json.dumps(document(etag="\u2028")),
        json.dumps(document(version_id="")),
        json.dumps(document(bucket="../..")),
        json.dumps(document(prefix="no-slash")),
        json.dumps(document(key="p/\ud800")),
        json.dumps({**document(), "created": "yesterday"}),
        json.dumps({**document(), "format": "bucketsync-lock/2"}),
        json.dumps({**document(), "entries": [document()["entries"][0]] * 2}),
    ],
)
def test_malformed_examples(text: str) -> None:
    with pytest.raises(LockfileError) as caught:
        Lock.loads(text, "x.lock")
    assert str(caught.value).startswith("x.lock: ") and "\n" not in str(caught.value)


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"format": "bucketsync-lock/1", "bucket"', "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"format": "other"}', "not a bucketsync lockfile"),
        (None, "cannot read the lockfile"),
        ("FOREIGN", "pins s3://other-bucket/p/"),
    ],
)
def test_cli_malformed_lockfile_exits_2_with_one_line(
    moto_s3: S3Env, tmp_path: Path, content: str | None, says: str
) -> None:
    lockfile = tmp_path / "data.lock"
    if content == "FOREIGN":
        content = json.dumps(document(bucket="other-bucket"))
    if content is not None:
        lockfile.write_text(content)
    target = tmp_path / "t"
    for command in ("sync", "diff"):
        done = cli(moto_s3.env, command, moto_s3.url("p"), str(target), "--lock", str(lockfile))
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bucketsync: error:"), done.stderr
        assert says in lines[0]
    assert not target.exists()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_cli_lockfile_that_is_a_fifo_or_a_device_exits_2_at_once(
    moto_s3: S3Env, tmp_path: Path, kind: str
) -> None:
    """`--lock` (and `--at`) naming a FIFO or a device: one error line, no wait for a
    writer that never comes, no read of an endless device."""
    if kind == "fifo":
        lockfile = tmp_path / "data.lock"
        os.mkfifo(lockfile)
    else:
        lockfile = Path("/dev/zero")
    target = tmp_path / "t"
    for command in ("sync", "diff"):
        done = subprocess.run(
            [BUCKETSYNC, command, moto_s3.url("p"), str(target), "--lock", str(lockfile)],
            env=moto_s3.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot read the lockfile" in lines[0], done.stderr
    assert not target.exists()


# --- hostile keys -------------------------------------------------------------------------


def sandbox(root: Path) -> tuple[Path, Path]:
    outside, target = root / "outside", root / "target"
    outside.mkdir(parents=True)
    (outside / "canary").write_bytes(b"canary")
    target.mkdir()
    (target / "escape").symlink_to(outside, target_is_directory=True)
    return outside, target


def files_of(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def hostile_lock(s3: S3Env, keys: list[str]) -> Lock:
    """A lock naming `keys` below p/, each with the ETag of an object really there."""
    etag = s3.put("p/ok", b"fine").strip('"')
    entries = [{"key": "p/ok", "size": 4, "etag": etag, "version_id": None}]
    entries += [
        {"key": "p/" + k, "size": 4, "etag": etag, "version_id": None} for k in keys if k != "ok"
    ]
    doc = {**document(bucket=s3.bucket), "entries": entries}
    return Lock.loads(json.dumps(doc))


def test_hostile_keys_are_refused_one_by_one(moto_s3: S3Env, tmp_path: Path) -> None:
    outside, target = sandbox(tmp_path)
    keys = [k for k in HOSTILE if "\x00" not in k]
    lock = hostile_lock(moto_s3, keys)
    report = bucketsync.sync(moto_s3.url("p"), target, lock=lock, delete=True)
    assert files_of(outside) == {"canary": b"canary"}
    assert (target / "ok").read_bytes() == b"fine"
    refused = {p.path for p in report.errors}
    assert {"../x", "a/../../x", "/abs", "a//b", "./a", "escape/x"} <= refused
    assert "ok" not in refused
    lockfile = lock.save(tmp_path / "hostile.lock")
    done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(target), "--lock", str(lockfile))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert files_of(outside) == {"canary": b"canary"}


KEY_PARTS = st.sampled_from(["..", ".", "", "a", "b", "escape", "\u00e9", "x" * 256, "/"])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.lists(KEY_PARTS, min_size=1, max_size=4).map("/".join), max_size=6))
def test_no_lockfile_key_writes_outside(
    moto_s3: S3Env, tmp_path_factory: pytest.TempPathFactory, keys: list[str]
) -> None:
    outside, target = sandbox(tmp_path_factory.mktemp("hostile"))
    try:
        lock = hostile_lock(moto_s3, keys)
    except LockfileError:
        return
    try:
        bucketsync.sync(moto_s3.url("p"), target, lock=lock, delete=True)
    except bucketsync.BucketsyncError as e:
        assert "\n" not in str(e)
    assert files_of(outside) == {"canary": b"canary"}
    assert all(
        p.resolve().is_relative_to(target.resolve())
        for p in target.rglob("*")
        if p.name != "escape"
    )


# --- where a lockfile is written -------------------------------------------------------------


def hostile_outputs(root: Path) -> dict[str, Path]:
    """Paths a lockfile must not be written to, each next to what it must leave alone."""
    root.mkdir()
    (root / "folder").mkdir()
    os.mkfifo(root / "fifo")
    (root / "file").write_bytes(b"keep")
    (root / "link").symlink_to(root / "file")
    return {
        "folder": root / "folder",
        "fifo": root / "fifo",
        "link": root / "link",
        "below a file": root / "file" / "x.lock",
    }


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bucketsync: error:"), done.stderr
    assert "unexpected" not in lines[0] and "--follow-symlinks" not in lines[0]
    return lines[0]


@pytest.mark.no_invariants("outside", reason="the test makes the paths it writes to")
def test_hostile_output_paths_exit_2_before_any_work(moto_s3: S3Env, tmp_path: Path) -> None:
    """snapshot -o and sync --write-lock: a folder, a FIFO, a symbolic link, a path below
    a file are one error line and exit code 2, before anything is listed or moved, and
    what is there is left as it was."""
    moto_s3.put("p/a", b"data")
    outputs = hostile_outputs(tmp_path / "o")
    for name, path in outputs.items():
        one_error_line(cli(moto_s3.env, "snapshot", moto_s3.url("p"), "-o", str(path)))
        target = tmp_path / f"t-{name.replace(' ', '-')}"
        done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(target), "--write-lock", str(path))
        one_error_line(done)
        assert not target.exists(), name
    one_error_line(cli(moto_s3.env, "snapshot", moto_s3.url("p"), "-o", ""))
    assert (tmp_path / "o" / "folder").is_dir() and not any((tmp_path / "o" / "folder").iterdir())
    assert (tmp_path / "o" / "fifo").is_fifo()
    assert (tmp_path / "o" / "link").is_symlink()
    assert (tmp_path / "o" / "file").read_bytes() == b"keep"
    with pytest.raises(LockfileError):
        Lock.loads(json.dumps(document())).save(outputs["fifo"])
    assert (tmp_path / "o" / "fifo").is_fifo()


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_write_lock_inside_the_folder_is_refused_before_any_work(
    moto_s3: S3Env, tmp_path: Path, direction: str
) -> None:
    """A lockfile written into the folder it pins would become part of it: a push's next
    run would upload it (over a file of that name, here `a`), a pull's would delete it."""
    local = tmp_path / "local"
    local.mkdir()
    (local / "a").write_bytes(b"mine")
    moto_s3.put("p/b", b"theirs")
    sides = [str(local), moto_s3.url("p")]
    if direction == "pull":
        sides.reverse()
    for inside in (local / "a", local / "sub" / "x.lock"):
        line = one_error_line(cli(moto_s3.env, "sync", *sides, "--write-lock", str(inside)))
        assert "inside" in line
    assert (
        sorted(p.name for p in local.iterdir()) == ["a"] and (local / "a").read_bytes() == b"mine"
    )
    assert moto_s3.keys("p/") == ["p/b"]


def test_a_lockfile_that_cannot_be_written_is_one_error_line(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    """snapshot -o and --write-lock where a file stands in the way of the folder: exit 2
    with one line, not the "unexpected error" of a bug."""
    moto_s3.put("p/a", b"a")
    blocker = tmp_path / "file"
    blocker.write_bytes(b"not a folder")
    where = str(blocker / "x.lock")
    runs = [
        cli(moto_s3.env, "snapshot", moto_s3.url("p"), "-o", where),
        cli(moto_s3.env, "sync", moto_s3.url("p"), str(tmp_path / "t"), "--write-lock", where),
    ]
    for done in runs:
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert "cannot write the lockfile" in lines[0], done.stderr
    assert blocker.read_bytes() == b"not a folder"
