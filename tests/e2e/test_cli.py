"""The command line as scripts use it: output, JSON, exit codes, one-line errors."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s3env import S3Env

BUCKETSYNC = str(Path(sys.executable).with_name("bucketsync"))


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUCKETSYNC, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _one_line_error(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bucketsync: error:"), done.stderr
    assert text in lines[0]


def _data(root: Path) -> Path:
    (root / "d").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "d" / "b.txt").write_text("bb")
    return root


def test_sync_json_contract(s3: S3Env, tmp_path: Path) -> None:
    src = _data(tmp_path / "src")
    done = cli(s3.env, "sync", str(src), s3.url("p"), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {
        "source",
        "destination",
        "dry_run",
        "actions",
        "summary",
        "errors",
        "skipped",
    }
    assert out["skipped"] == []
    assert out["dry_run"] is False and out["errors"] == []
    assert out["actions"] == [
        {"action": "upload", "path": "a.txt", "reason": "new file", "bytes": 1, "resumed": False},
        {"action": "upload", "path": "d/b.txt", "reason": "new file", "bytes": 2, "resumed": False},
    ]
    summary = out["summary"]
    assert set(summary) == {
        "conflicts",
        "uploaded",
        "downloaded",
        "deleted",
        "unchanged",
        "failed",
        "bytes_transferred",
        "bytes_hashed",
        "requests",
        "seconds",
    }
    assert summary["uploaded"] == 2 and summary["bytes_transferred"] == 3
    assert set(summary["requests"]) == {"list", "head", "get", "put", "delete", "other"}
    assert summary["requests"]["put"] == 2
    assert s3.keys() == ["p/a.txt", "p/d/b.txt"]


def test_diff_exit_code_and_reasons(s3: S3Env, tmp_path: Path) -> None:
    src = _data(tmp_path / "src")
    done = cli(s3.env, "diff", str(src), s3.url("p"), "--exit-code")
    assert done.returncode == 1
    assert "upload   a.txt  (new file)" in done.stdout
    assert s3.keys() == [], "diff moves nothing"
    assert cli(s3.env, "sync", str(src), s3.url("p"), "-q").returncode == 0
    same = cli(s3.env, "diff", str(src), s3.url("p"), "--exit-code", "--json")
    assert same.returncode == 0 and json.loads(same.stdout)["actions"] == []


def test_dry_run_with_delete_deletes_nothing(s3: S3Env, tmp_path: Path) -> None:
    src = _data(tmp_path / "src")
    s3.put("p/extra.txt", b"x")
    done = cli(s3.env, "sync", str(src), s3.url("p"), "--delete", "--dry-run", "--json")
    out = json.loads(done.stdout)
    assert out["dry_run"] is True
    assert {
        "action": "delete",
        "path": "extra.txt",
        "reason": "only on the destination (--delete)",
        "bytes": 1,
        "resumed": False,
    } in out["actions"]
    assert s3.keys() == ["p/extra.txt"]


def test_usage_errors_exit_2(s3: S3Env, tmp_path: Path) -> None:
    _one_line_error(cli(s3.env, "sync", str(tmp_path), "s3:/nope"), 2, "s3://")
    _one_line_error(cli(s3.env, "sync", str(tmp_path / "missing"), s3.url()), 2, "no such folder")
    _one_line_error(
        cli(s3.env, "sync", str(tmp_path), "s3://no-such-bucket-x/p"), 2, "no such bucket"
    )
    bad = cli(s3.env, "sync", str(tmp_path), s3.url(), "--jobs", "0")
    _one_line_error(bad, 2, "--jobs")


def test_missing_credentials_exit_2(moto_s3: S3Env, tmp_path: Path) -> None:
    env = {k: v for k, v in moto_s3.env.items() if not k.startswith("AWS_ACCESS")}
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    _one_line_error(cli(env, "sync", str(tmp_path), moto_s3.url()), 2, "credentials")


def test_wrong_credentials_exit_2(rclone_s3: S3Env, tmp_path: Path) -> None:
    env = {**rclone_s3.env, "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
    _one_line_error(cli(env, "sync", str(tmp_path), rclone_s3.url()), 2, "credentials")


def test_unreachable_endpoint_exit_2(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    done = cli(env, "sync", str(tmp_path), "s3://bucket/p")
    _one_line_error(done, 2, "cannot reach")


def test_secrets_never_printed(rclone_s3: S3Env, tmp_path: Path) -> None:
    src = _data(tmp_path / "src")
    env = {**rclone_s3.env, "AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "AWS_ACCESS_KEY_ID": "id-42"}
    done = cli(env, "sync", str(src), rclone_s3.url(), "--debug")
    assert "s3cr3t-value" not in done.stdout + done.stderr
    assert "id-42" not in done.stdout + done.stderr


def test_hostile_keys_fail_alone_exit_1(moto_s3: S3Env, tmp_path: Path) -> None:
    for key in ["p/ok.txt", "p/../escape.txt", "p/a/../../x.txt", "p//abs.txt", "p/./dot.txt"]:
        moto_s3.put(key, b"payload")
    dst = tmp_path / "inner" / "dst"
    done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(dst), "--json")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert out["summary"]["downloaded"] == 1 and out["summary"]["failed"] == 4
    assert sorted(e["path"] for e in out["errors"]) == sorted(
        ["../escape.txt", "a/../../x.txt", "/abs.txt", "./dot.txt"]
    )
    written = sorted(
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.is_file() and p.parts[len(tmp_path.parts)] not in ("state", "cache")
    )
    assert written == ["inner/dst/ok.txt"]
    assert len(done.stderr.strip().splitlines()) == 4


def test_folder_marker_and_file_folder_conflict(moto_s3: S3Env, tmp_path: Path) -> None:
    moto_s3.put("p/dir/", b"")
    moto_s3.put("p/a", b"file")
    moto_s3.put("p/a/b", b"inside")
    dst = tmp_path / "dst"
    done = cli(moto_s3.env, "sync", moto_s3.url("p"), str(dst), "--json")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert [e["path"] for e in out["errors"]] == ["a"]
    assert (dst / "a" / "b").read_bytes() == b"inside"
    assert not (dst / "dir").exists() or (dst / "dir").is_dir()


@pytest.mark.parametrize("mode", ["size", "size-mtime"])
def test_explicit_weaker_compare_modes(s3: S3Env, tmp_path: Path, mode: str) -> None:
    src = _data(tmp_path / "src")
    cli(s3.env, "sync", str(src), s3.url(), "-q")
    st = (src / "a.txt").stat()
    (src / "a.txt").write_text("A")
    os.utime(src / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    weak = json.loads(cli(s3.env, "diff", str(src), s3.url(), "--compare", mode, "--json").stdout)
    assert weak["actions"] == [], f"--compare {mode} trusts sizes (and times)"
    exact = json.loads(cli(s3.env, "diff", str(src), s3.url(), "--json").stdout)
    assert [a["path"] for a in exact["actions"]] == ["a.txt"]


def _stderr_on_a_terminal(env: dict[str, str], *args: str) -> str:
    """Run the CLI with stderr on a pseudo-terminal of 100 columns; return what it showed."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    done = subprocess.run(
        [BUCKETSYNC, *args],
        env=env,
        stderr=follower,
        stdout=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    os.close(follower)
    shown = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(leader, 65536):
            shown += chunk
    os.close(leader)
    assert done.returncode == 0
    return shown.decode(errors="replace")


def test_progress_bar_only_on_a_terminal(moto_s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(64):  # long enough work (well past the bar's 0.5 s delay) even when idle
        (src / f"f{i}").write_bytes(os.urandom(1 << 20))
    shown = _stderr_on_a_terminal(moto_s3.env, "sync", str(src), moto_s3.url("a"))
    assert "bucketsync:" in shown and "B/s" in shown
    quiet = _stderr_on_a_terminal(moto_s3.env, "sync", str(src), moto_s3.url("b"), "--no-progress")
    assert "B/s" not in quiet
    piped = cli(moto_s3.env, "sync", str(src), moto_s3.url("c"))
    assert "B/s" not in piped.stderr


def test_python_dash_m_runs_the_same_command_line(moto_s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    done = subprocess.run(
        [sys.executable, "-m", "bucketsync", "sync", str(src), moto_s3.url("m"), "--json"],
        env=moto_s3.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["uploaded"] == 1 and moto_s3.keys() == ["m/a.txt"]
