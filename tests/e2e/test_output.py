"""Human output a hostile bucket cannot abuse: escaped keys, whole paths named once,
every skipped path in --json, and a sync that says it waits for another one."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import bucketsync
from s3env import S3Env
from s3servers import start_moto

HOSTILE = (
    [chr(c) for c in range(1, 0x20)]
    + ["\x7f"]
    + [chr(c) for c in range(0x80, 0xA0)]
    + ["\u2028", "\u2029", "\u202e"]
)
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bucketsync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lines(text: str) -> list[str]:
    """Output lines; each must be free of control, format and separator characters."""
    found = text.split("\n")
    for line in found:
        bad = [c for c in line if unicodedata.category(c) in UNSAFE_CATEGORIES]
        assert not bad, f"raw {bad!r} in {line!r}"
    return [line for line in found if line]


def escaped(char: str) -> str:
    """How a character is shown (written independently of bucketsync.text)."""
    named = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
    if char in named:
        return named[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def put_hostile_keys(s3: S3Env, prefix: str) -> list[str]:
    """Put a key for each hostile character the server accepts; their names."""
    names = []
    for char in HOSTILE:
        try:
            s3.put(f"{prefix}k{char}x", b"1")
        except ClientError:  # moto refuses a newline in a key
            continue
        names.append(f"k{char}x")
    assert len(names) >= len(HOSTILE) - 2, names
    return names


def hostile_local_tree(root: Path) -> list[str]:
    """Symbolic links named with every hostile character (each a skipped path)."""
    root.mkdir(parents=True, exist_ok=True)
    names = [f"s{char}x" for char in HOSTILE]
    for name in names:
        (root / name).symlink_to("/nonexistent")
    return names


def test_hostile_keys_are_escaped_in_sync_and_diff(moto_s3: S3Env, tmp_path: Path) -> None:
    keys = put_hostile_keys(moto_s3, "p/")
    refused = put_hostile_keys(moto_s3, "p/u/../")  # each key fails alone, with an error
    moto_s3.put("p/e\x1b[2Jx", b"in the way")
    moto_s3.put("p/u\x1b]0;\x07/../x", b"unsafe")
    dst = tmp_path / "dst"
    notes = hostile_local_tree(dst)
    (dst / "e\x1b[2Jx").mkdir(parents=True)
    (dst / "e\x1b[2Jx" / "keep").write_text("a folder where the key wants a file")
    for command in ("diff", "sync"):
        done = run(moto_s3.env, command, moto_s3.url("p"), str(dst), "--debug")
        out, err = lines(done.stdout), lines(done.stderr)
        for key in keys:
            shown = "k" + escaped(key[1]) + "x"
            assert any(line.split()[1] == shown for line in out if " " in line), (shown, out)
        for note in notes:
            shown = f"bucketsync: note: skipped {dst}/s{escaped(note[1])}x: symbolic link"
            assert any(line.startswith(shown) for line in err), (shown, err)
        unsafe = f"bucketsync: error: {moto_s3.url('p')}/u\\x1b]0;\\x07/../x: "
        assert sum(line.startswith(unsafe) for line in err) == 1, err
        for key in refused:
            shown = f"bucketsync: error: {moto_s3.url('p')}/u/../k{escaped(key[1])}x: "
            assert sum(line.startswith(shown) for line in err) == 1, (shown, err)
    in_the_way = [line for line in err if "e\\x1b[2Jx" in line]
    assert in_the_way == [
        f"bucketsync: error: {dst}/e\\x1b[2Jx: a local folder is in the way (it holds 'keep');"
        " not downloaded (sync with --delete to replace it)"
    ]
    assert done.returncode == 1


def test_error_names_the_folder_and_the_path_once(moto_s3: S3Env, tmp_path: Path) -> None:
    moto_s3.put("p/d/a.txt", b"data")
    moto_s3.put("p/../up.txt", b"unsafe")
    dst = tmp_path / "dst"
    (dst / "d" / "a.txt").mkdir(parents=True)
    (dst / "d" / "a.txt" / "inside").write_text("x")
    done = run(moto_s3.env, "sync", moto_s3.url("p"), str(dst))
    assert done.returncode == 1
    errors = [line for line in lines(done.stderr) if line.startswith("bucketsync: error:")]
    assert len(errors) == 2, errors
    folder = next(line for line in errors if "a.txt" in line)
    assert folder.startswith(f"bucketsync: error: {dst}/d/a.txt: "), folder
    assert folder.count("a.txt") == 1, folder
    unsafe = next(line for line in errors if "up.txt" in line)
    assert unsafe.startswith(f"bucketsync: error: {moto_s3.url('p')}/../up.txt: "), unsafe
    assert unsafe.count("up.txt") == 1, unsafe


def test_a_usage_error_message_is_escaped(moto_s3: S3Env, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "f\x1b[2J\u2028x"
    not_a_folder.write_text("a file")
    done = run(moto_s3.env, "sync", moto_s3.url("p"), str(not_a_folder))
    assert done.returncode == 2, done.stderr
    (line,) = lines(done.stderr)
    assert line == f"bucketsync: error: not a folder: {tmp_path}/f\\x1b[2J\\u2028x"


def links(root: Path, n: int) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "real.txt").write_text("real")
    names = [f"link{i:02}" for i in range(n)]
    for name in names:
        (root / name).symlink_to(root / "real.txt")
    return names


def test_json_lists_every_skipped_path(moto_s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "src"
    names = links(src, 20)
    for command in ("diff", "sync"):
        done = run(moto_s3.env, command, str(src), moto_s3.url("p"), "--json")
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["skipped"] == [
            {"path": name, "reason": "symbolic link not followed (use --follow-symlinks)"}
            for name in names
        ]
        assert {"source", "destination", "actions", "errors", "dry_run"} <= set(out)


def test_human_output_counts_skipped_paths_and_lists_them_on_request(
    moto_s3: S3Env, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    names = links(src, 20)
    brief = lines(run(moto_s3.env, "sync", str(src), moto_s3.url("p")).stderr)
    assert len(brief) == 1 and brief[0].startswith("bucketsync: note: 20 paths skipped"), brief
    full = lines(run(moto_s3.env, "diff", str(src), moto_s3.url("p"), "--debug").stderr)
    notes = [line for line in full if line.startswith("bucketsync: note:")]
    assert notes[0] == "bucketsync: note: 20 paths skipped"
    assert notes[1:] == [
        f"bucketsync: note: skipped {src}/{name}: symbolic link not followed"
        " (use --follow-symlinks)"
        for name in names
    ]
    few = tmp_path / "few"
    three = links(few, 3)
    shown = lines(run(moto_s3.env, "sync", str(few), moto_s3.url("q")).stderr)
    assert len(shown) == 4 and shown[0] == "bucketsync: note: 3 paths skipped", shown
    assert all(f"{few}/{name}:" in line for name, line in zip(three, shown[1:], strict=True))


HOLD = """
import sys
from pathlib import Path
from bucketsync.locking import folder_lock
with folder_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


class LockHolder:
    """Another process holding the folder's lock until released (or 60 s have passed)."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(folder)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "held\n"
        self._timer = threading.Timer(60.0, self.release)
        self._timer.start()

    def release(self) -> None:
        self._timer.cancel()
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        self.proc.wait(30)


WAITING = "bucketsync: waiting for another sync of {} to finish..."


def sync_behind(holder: LockHolder, env: dict[str, str], out: Path, *args: str) -> str:
    """Run a CLI sync while `holder` holds the lock; release it once the sync says it
    waits (or after 5 s); return the sync's stderr."""
    with (out / "stdout").open("w") as stdout, (out / "stderr").open("w") as stderr:
        sync = subprocess.Popen(
            [sys.executable, "-m", "bucketsync", "sync", *args],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and "waiting" not in (out / "stderr").read_text():
            time.sleep(0.05)
        holder.release()
        assert sync.wait(120) == 0, (out / "stderr").read_text()
    return (out / "stderr").read_text()


@pytest.mark.no_invariants("outside", reason="the lock holder's output files sit beside dst")
@pytest.mark.parametrize("flags", [(), ("--no-progress",), ("--quiet",), ("--json",)])
def test_a_sync_says_it_waits_for_another(
    moto_s3: S3Env, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    moto_s3.put("p/a.txt", b"a")
    dst = tmp_path / "dst\x1b[2J"
    dst.mkdir()
    holder = LockHolder(moto_s3.env, dst)
    try:
        err = sync_behind(holder, moto_s3.env, tmp_path, moto_s3.url("p"), str(dst), *flags)
    finally:
        holder.release()
    said = [line for line in lines(err) if "waiting" in line]
    if "--quiet" in flags or "--json" in flags:
        assert said == []
    else:
        assert said == [WAITING.format(f"{tmp_path}/dst\\x1b[2J")]
    assert (dst / "a.txt").read_bytes() == b"a"


class ReleaseOnWait(logging.Handler):
    """Releases the holder when the sync logs that it waits."""

    def __init__(self, holder: LockHolder) -> None:
        super().__init__(logging.INFO)
        self.holder = holder

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting" in record.getMessage():
            self.holder.release()


def test_the_api_logs_its_wait_and_shows_it_with_progress(
    moto_s3: S3Env,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    moto_s3.put("p/a.txt", b"a")
    dst = tmp_path / "dst"
    dst.mkdir()
    logger = logging.getLogger("bucketsync")
    for progress in (False, True):
        holder = LockHolder({**os.environ}, dst)
        release = ReleaseOnWait(holder)
        logger.addHandler(release)
        try:
            with caplog.at_level(logging.INFO, logger="bucketsync"):
                bucketsync.sync(moto_s3.url("p"), dst, progress=progress)
        finally:
            logger.removeHandler(release)
            holder.release()
        message = f"waiting for another sync of {dst} to finish..."
        assert [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()] == [message]
        caplog.clear()
        err = capfd.readouterr().err
        assert (f"bucketsync: {message}" in err) is progress, err


def test_offline_warning_names_a_hostile_key_escaped_once() -> None:
    server = start_moto()
    try:
        server.client().create_bucket(Bucket="offline-out")
        key = "k\x1b[2J\r\u202e.txt"
        server.client().put_object(Bucket="offline-out", Key=key, Body=b"cached")
        m = bucketsync.Mirror("s3://offline-out/", endpoint_url=server.endpoint_url, max_attempts=1)
        m.path(key)
    finally:
        server.stop()
    with pytest.warns(bucketsync.OfflineWarning) as caught:
        m.path(key)
    (message,) = [str(w.message) for w in caught]
    lines(message)
    assert message.startswith("s3://offline-out/k\\x1b[2J\\r\\u202e.txt: "), message
    assert message.count("k\\x1b[2J") == 1 and "using the local copy unchecked" in message
