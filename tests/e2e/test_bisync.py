"""Two-way sync against real servers: every cell of the three-way table, each conflict
mode with the bytes on both sides checked, --max-delete, a vanished side, the Mirror
case of issue 15, and a property test over random edits on both sides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import bucketsync
from s3env import S3Env

BUCKETSYNC = str(Path(sys.executable).with_name("bucketsync"))


@pytest.fixture(
    params=["moto_s3", "rclone_s3", pytest.param("localstack", marks=pytest.mark.localstack)],
    ids=["moto", "rclone", "localstack"],
)
def server(request: pytest.FixtureRequest) -> S3Env:
    """A fresh bucket on moto, rclone serve s3 and LocalStack (skipped when not installed)."""
    env: S3Env = request.getfixturevalue(request.param)
    return env


class World:
    """A local folder and a prefix, with helpers to change either side and run bisync."""

    def __init__(self, s3: S3Env, root: Path, prefix: str = "p") -> None:
        self.s3, self.root, self.prefix = s3, root, prefix.rstrip("/") + "/"
        root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return self.s3.url(self.prefix)

    def write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def rm(self, rel: str) -> None:
        (self.root / rel).unlink()

    def put(self, rel: str, data: bytes) -> None:
        self.s3.put(self.prefix + rel, data)

    def rm_remote(self, rel: str) -> None:
        self.s3.client.delete_object(Bucket=self.s3.bucket, Key=self.prefix + rel)

    def local(self) -> dict[str, bytes]:
        if not self.root.exists():
            return {}
        return {
            p.relative_to(self.root).as_posix(): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }

    def remote(self) -> dict[str, bytes]:
        return {k[len(self.prefix) :]: self.s3.get(k) for k in self.s3.keys(self.prefix)}

    def run(self, how: str = "api", **opts: Any) -> tuple[int, dict[str, Any]]:
        """Exit code and JSON report of one bisync, through the API or the CLI."""
        if how == "api":
            try:
                report = bucketsync.bisync(self.root, self.url, progress=False, **opts)
            except bucketsync.BucketsyncError as e:
                return e.exit_code, {}
            return (0 if report.ok else 1), report.to_dict()
        args = [BUCKETSYNC, "bisync", self.url, str(self.root), "--json", "--no-progress"]
        for name, value in opts.items():  # a value "" is a flag without an argument
            args += [f"--{name.replace('_', '-')}", *([str(value)] if value != "" else [])]
        done = subprocess.run(
            args, env=self.s3.env, capture_output=True, text=True, timeout=120, check=False
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


def _actions(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {a["path"]: (a["action"], a["reason"]) for a in report["actions"]}


# --- every cell of the table -----------------------------------------------------------------


BASE = [
    "unchanged.txt",
    "touched.txt",
    "edit_local.txt",
    "edit_remote.txt",
    "edit_both_same.txt",
    "edit_both_diff.txt",
    "del_local.txt",
    "del_remote.txt",
    "del_both.txt",
    "del_local_edit_remote.txt",
    "edit_local_del_remote.txt",
]


def _set_up_every_cell(w: World) -> None:
    for rel in BASE:
        w.write(rel, b"v0 " + rel.encode())
    code, _ = w.run()
    assert code == 0 and w.local() == w.remote()
    time.sleep(0.05)  # later writes are not racily clean
    w.write("new_local.txt", b"L")
    w.put("new_remote.txt", b"R")
    w.write("new_both_same.txt", b"same")
    w.put("new_both_same.txt", b"same")
    w.write("new_both_diff.txt", b"local!")
    w.put("new_both_diff.txt", b"remote")
    os.utime(w.root / "touched.txt", (5, 5))
    w.write("edit_local.txt", b"local edit")
    w.put("edit_remote.txt", b"remote edit")
    w.write("edit_both_same.txt", b"both")
    w.put("edit_both_same.txt", b"both")
    w.write("edit_both_diff.txt", b"local")
    w.put("edit_both_diff.txt", b"remote!")
    w.rm("del_local.txt")
    w.rm_remote("del_remote.txt")
    w.rm("del_both.txt")
    w.rm_remote("del_both.txt")
    w.rm("del_local_edit_remote.txt")
    w.put("del_local_edit_remote.txt", b"remote edit")
    w.write("edit_local_del_remote.txt", b"local edit")
    w.rm_remote("edit_local_del_remote.txt")


CONFLICTS = {
    "new_both_diff.txt": "created locally, created remotely, with different content",
    "edit_both_diff.txt": "edited locally, edited remotely, with different content",
    "del_local_edit_remote.txt": "deleted locally, edited remotely",
    "edit_local_del_remote.txt": "edited locally, deleted remotely",
}


@pytest.mark.parametrize("how", ["api", "cli"])
def test_every_cell_of_the_table(server: S3Env, tmp_path: Path, how: str) -> None:
    w = World(server, tmp_path / "L")
    _set_up_every_cell(w)
    before_local, before_remote = w.local(), w.remote()
    code, report = w.run(how)
    assert code == 1, "conflicts left alone exit 1"
    acts = _actions(report)
    assert acts["new_local.txt"][0] == "upload"
    assert acts["new_remote.txt"][0] == "download"
    assert acts["edit_local.txt"][0] == "upload"
    assert acts["edit_remote.txt"][0] == "download"
    assert acts["del_local.txt"][0] == "delete" and report["actions"]
    assert acts["del_remote.txt"][0] == "delete"
    for rel, reason in CONFLICTS.items():
        assert acts[rel] == ("conflict", reason)
    for rel in ("unchanged.txt", "touched.txt", "edit_both_same.txt", "new_both_same.txt"):
        assert rel not in acts, f"{rel}: nothing to move"
    assert "del_both.txt" not in acts
    assert report["summary"]["conflicts"] == 4
    assert all(a["resolution"] is None for a in report["actions"] if a["action"] == "conflict")
    assert report["summary"]["uploaded"] == 2 and report["summary"]["downloaded"] == 2
    assert report["summary"]["deleted"] == 2
    local, remote = w.local(), w.remote()
    for rel in CONFLICTS:  # neither side touched
        assert local.get(rel) == before_local.get(rel) and remote.get(rel) == before_remote.get(rel)
    assert local["new_remote.txt"] == b"R" and remote["new_local.txt"] == b"L"
    assert local["edit_remote.txt"] == b"remote edit" and remote["edit_local.txt"] == b"local edit"
    assert "del_local.txt" not in remote and "del_remote.txt" not in local
    assert "del_both.txt" not in local and "del_both.txt" not in remote
    for rel in set(local) - set(CONFLICTS):
        assert local[rel] == remote[rel], rel
    code, again = w.run(how)  # stable: the same conflicts, nothing else to do
    assert code == 1 and set(_actions(again)) == set(CONFLICTS)


def test_text_output_lists_each_conflict_on_its_own_line(moto_s3: S3Env, tmp_path: Path) -> None:
    w = World(moto_s3, tmp_path / "L")
    w.write("a.txt", b"local")
    w.put("a.txt", b"remote")
    w.write("b.txt", b"local")
    w.put("b.txt", b"remote!")
    args = [BUCKETSYNC, "bisync", str(w.root), w.url, "--no-progress"]
    done = subprocess.run(args, env=moto_s3.env, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("conflict")]
    assert len(lines) == 2 and "a.txt" in lines[0] and "b.txt" in lines[1]
    assert "created locally, created remotely, with different content" in lines[0]
    assert "2 conflicts (2 left alone)" in done.stdout


# --- conflict modes ----------------------------------------------------------------------------


def _conflicts(w: World) -> None:
    """Four conflicts: edited on both, created on both, deleted/edited, edited/deleted."""
    for rel in ("both.txt", "del_local.txt", "del_remote.txt"):
        w.write(rel, b"v0")
    assert w.run()[0] == 0
    time.sleep(0.05)
    w.write("both.txt", b"local")
    os.utime(w.root / "both.txt", (1, 1))  # older than the server's version
    w.put("both.txt", b"remote!")
    w.write("new.csv", b"local new")
    os.utime(w.root / "new.csv", (4e9, 4e9))  # newer than the server's version
    w.put("new.csv", b"remote new")
    w.rm("del_local.txt")
    w.put("del_local.txt", b"remote edit")
    w.write("del_remote.txt", b"local edit")
    w.rm_remote("del_remote.txt")


EXPECTED = {
    "local": {"both.txt": b"local", "new.csv": b"local new", "del_remote.txt": b"local edit"},
    "remote": {"both.txt": b"remote!", "new.csv": b"remote new", "del_local.txt": b"remote edit"},
    "newer": {
        "both.txt": b"remote!",
        "new.csv": b"local new",
        "del_local.txt": b"remote edit",
        "del_remote.txt": b"local edit",
    },
    "keep-both": {
        "both.txt": b"local",
        "new.csv": b"local new",
        "del_local.txt": b"remote edit",
        "del_remote.txt": b"local edit",
    },
}


@pytest.mark.parametrize("mode", ["skip", "local", "remote", "newer", "keep-both"])
def test_each_conflict_mode(server: S3Env, tmp_path: Path, mode: str) -> None:
    w = World(server, tmp_path / "L")
    _conflicts(w)
    before_local, before_remote = w.local(), w.remote()
    how = "cli" if mode in ("newer", "keep-both") else "api"
    code, report = w.run(how, conflict=mode)
    conflicts = [a for a in report["actions"] if a["action"] == "conflict"]
    assert len(conflicts) == 4 and report["summary"]["conflicts"] == 4
    local, remote = w.local(), w.remote()
    if mode == "skip":
        assert code == 1 and all(a["resolution"] is None for a in conflicts)
        assert (local, remote) == (before_local, before_remote), "neither side touched"
        return
    assert code == 0, report
    assert all(a["resolution"] for a in conflicts)
    copies = {rel: data for rel, data in local.items() if ".conflict-remote-" in rel}
    if mode == "keep-both":
        assert sorted(copies.values()) == [b"remote new", b"remote!"]
        names = sorted(copies)
        assert names[0].startswith("both.conflict-remote-") and names[0].endswith("Z.txt")
        assert names[1].startswith("new.conflict-remote-") and names[1].endswith("Z.csv")
    else:
        assert not copies
    assert {k: v for k, v in local.items() if k not in copies} == EXPECTED[mode]
    assert local == remote, "both sides converge"
    assert w.run()[0] == 0 and w.local() == w.remote(), "then nothing left to settle"


# --- deletes: --max-delete, a vanished side, a failed listing ----------------------------


@pytest.mark.parametrize("how", ["api", "cli"])
def test_max_delete_deletes_nothing_but_does_the_rest(
    moto_s3: S3Env, tmp_path: Path, how: str
) -> None:
    w = World(moto_s3, tmp_path / "L")
    for rel in ("a", "b", "c", "d"):
        w.write(rel, rel.encode())
    assert w.run()[0] == 0
    w.rm("a")
    w.rm("b")
    w.write("new", b"n")
    code, report = w.run(how, max_delete=1)
    assert code == 1
    assert sorted(w.remote()) == ["a", "b", "c", "d", "new"], "nothing deleted, the rest done"
    assert any("--max-delete 1" in e["error"] for e in report["errors"])
    code, report = w.run(how, max_delete=2)
    assert code == 0 and sorted(w.remote()) == ["c", "d", "new"]


def test_sync_delete_honours_max_delete(moto_s3: S3Env, tmp_path: Path) -> None:
    w = World(moto_s3, tmp_path / "L")
    for rel in ("a", "b", "c"):
        w.put(rel, b"x")
    w.write("new", b"n")
    report = bucketsync.sync(w.root, w.url, delete=True, max_delete=2)
    assert not report.ok and report.uploaded == 1 and report.deleted == 0
    assert sorted(w.remote()) == ["a", "b", "c", "new"]
    args = [BUCKETSYNC, "sync", w.url, str(w.root), "--delete", "--max-delete", "0", "--json"]
    w.write("extra", b"e")
    done = subprocess.run(args, env=moto_s3.env, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and (w.root / "extra").exists()
    assert json.loads(done.stdout)["summary"]["downloaded"] == 3


@pytest.mark.parametrize("how", ["api", "cli"])
def test_an_emptied_or_missing_side_deletes_nothing(
    server: S3Env, tmp_path: Path, how: str
) -> None:
    w = World(server, tmp_path / "L")
    w.write("a.txt", b"a")
    w.write("d/b.txt", b"b")
    assert w.run()[0] == 0
    held = w.remote()
    (w.root / "a.txt").rename(tmp_path / "a.txt")
    (w.root / "d/b.txt").rename(tmp_path / "b.txt")
    assert w.run(how)[0] == 2, "an empty folder"
    assert w.remote() == held
    (w.root / "d").rmdir()
    w.root.rmdir()
    assert w.run(how)[0] == 2, "a missing folder"
    assert w.remote() == held
    w.root.mkdir()
    (tmp_path / "a.txt").rename(w.root / "a.txt")
    w.write("d/b.txt", b"b")
    assert w.run(how)[0] == 0
    for rel in held:
        w.rm_remote(rel)
    assert w.run(how)[0] == 2, "an emptied prefix"
    assert w.local() == held, "nothing deleted locally"


def test_a_failed_listing_deletes_nothing(moto_s3: S3Env, tmp_path: Path) -> None:
    w = World(moto_s3, tmp_path / "L")
    w.write("a.txt", b"a")
    assert w.run()[0] == 0
    code, _ = w.run(endpoint_url="http://127.0.0.1:9", connect_timeout=0.5, max_attempts=1)
    assert code == 2 and w.local() == {"a.txt": b"a"}


def test_first_run_into_a_missing_folder_pulls(moto_s3: S3Env, tmp_path: Path) -> None:
    w = World(moto_s3, tmp_path / "L")
    w.root.rmdir()
    w.put("x/y.txt", b"y")
    assert w.run()[0] == 0 and w.local() == {"x/y.txt": b"y"}


def test_bad_conflict_mode_and_delete_option_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(bucketsync.UsageError):
        bucketsync.bisync(tmp_path, "s3://bucket/p", conflict="mine")
    with pytest.raises(bucketsync.UsageError):
        bucketsync.bisync(tmp_path, "s3://bucket/p", delete=True)
    with pytest.raises(bucketsync.UsageError):
        bucketsync.bisync(tmp_path, "s3://bucket/p", max_delete=-1)


# --- Mirror: the case of issue 15 ----------------------------------------------------------


def test_mirror_edit_and_remote_edit_lose_nothing(server: S3Env) -> None:
    server.put("a.csv", b"x,y\n1,2\n")
    m = bucketsync.Mirror(server.url(), progress=False)
    assert m.pull().downloaded == 1
    with m.open("a.csv", "w") as f:
        f.write("x,y\n1,3\n")
    server.put("a.csv", b"x,y\n9,9\n")  # a colleague's version
    with pytest.warns(bucketsync.ConflictWarning, match="a.csv"):
        assert m.path("a.csv").read_bytes() == b"x,y\n1,3\n", "the local edit is kept"
    with pytest.warns(bucketsync.ConflictWarning), m.open("a.csv") as f:
        assert f.read() == "x,y\n1,3\n"
    report = m.push()
    assert report.conflicts == 1 and not report.ok and report.uploaded == 0
    assert report.to_dict()["summary"]["unchanged"] == 0
    assert server.get("a.csv") == b"x,y\n9,9\n", "the colleague's version is kept"
    report = m.pull()
    assert report.conflicts == 1 and report.downloaded == 0
    assert (m.local / "a.csv").read_bytes() == b"x,y\n1,3\n"
    report = m.sync()
    assert report.unresolved == 1
    report = m.sync(conflict="keep-both")
    assert report.ok
    copies = [p for p in m.local.iterdir() if ".conflict-remote-" in p.name]
    assert len(copies) == 1 and copies[0].read_bytes() == b"x,y\n9,9\n"
    assert (m.local / "a.csv").read_bytes() == b"x,y\n1,3\n"
    assert server.get("a.csv") == b"x,y\n1,3\n"
    assert server.get(copies[0].name) == b"x,y\n9,9\n"


def test_mirror_sync_is_two_way(moto_s3: S3Env) -> None:
    moto_s3.put("r.txt", b"r")
    m = bucketsync.Mirror(moto_s3.url("m"), progress=False)
    moto_s3.put("m/r.txt", b"r")
    m.local.mkdir(parents=True, exist_ok=True)
    (m.local / "l.txt").write_bytes(b"l")
    report = m.sync()
    assert report.ok and report.uploaded == 1 and report.downloaded == 1
    assert moto_s3.get("m/l.txt") == b"l" and (m.local / "r.txt").read_bytes() == b"r"


# --- a property: random edits on both sides ---------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

NAMES = ["a", "b", "d/c"]
CONTENTS = [b"1", b"22", b"33", b"4444"]
OPS = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.sampled_from(CONTENTS)),
    st.tuples(st.just("put"), st.sampled_from(NAMES), st.sampled_from(CONTENTS)),
    st.tuples(st.just("rm"), st.sampled_from(NAMES), st.just(b"")),
    st.tuples(st.just("rm_remote"), st.sampled_from(NAMES), st.just(b"")),
    st.tuples(st.just("bisync"), st.just(""), st.just(b"")),
)


def _apply(w: World, op: tuple[str, str, bytes]) -> None:
    kind, rel, data = op
    if kind == "write":
        w.write(rel, data)
    elif kind == "put":
        w.put(rel, data)
    elif kind == "rm" and (w.root / rel).exists():
        w.rm(rel)
    elif kind == "rm_remote":
        w.rm_remote(rel)


def _bisync_loses_nothing(w: World, ancestor: dict[str, bytes], **opts: Any) -> dict[str, bytes]:
    """Run a bisync; every version made since the last one (an edit or a new file) is still
    on a side at its path, or the report names the path. The new ancestor."""
    local, remote = w.local(), w.remote()
    code, report = w.run(**opts)
    assert code in (0, 1), report
    named = {a["path"] for a in report["actions"]} | {e["path"] for e in report["errors"]}
    after_local, after_remote = w.local(), w.remote()
    for side in (local, remote):
        for rel, data in side.items():
            if ancestor.get(rel) == data:
                continue  # not a new version
            kept = data in (after_local.get(rel), after_remote.get(rel))
            assert kept or rel in named, f"{rel}: {data!r} lost without a word"
    return {rel: d for rel, d in after_local.items() if after_remote.get(rel) == d}


@hypothesis.settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@hypothesis.given(st.lists(OPS, max_size=8))
def test_random_edits_converge_and_lose_nothing(
    moto_s3: S3Env, tmp_path: Path, ops: list[tuple[str, str, bytes]]
) -> None:
    w = World(moto_s3, tmp_path / uuid.uuid4().hex, prefix=uuid.uuid4().hex)
    w.write("keep", b"k")  # never touched: neither side ever empties (that stops a bisync)
    ancestor = _bisync_loses_nothing(w, {})
    for op in ops:
        if op[0] == "bisync":
            ancestor = _bisync_loses_nothing(w, ancestor)
        else:
            _apply(w, op)
            if op[0] == "write":
                time.sleep(0.025)  # a file checked within ~20 ms of a write is hashed anyway
    _bisync_loses_nothing(w, ancestor, conflict="local")
    assert w.local() == w.remote()


# --- races, hostile keys, dry runs -----------------------------------------------------------


def test_a_remote_change_during_the_run_is_not_deleted(
    moto_s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bucketsync import twoway

    w = World(moto_s3, tmp_path / "L")
    w.write("a", b"1")
    w.write("keep", b"k")
    assert w.run()[0] == 0
    w.rm("a")
    original = twoway._delete_one

    def racing(job: Any, action: Any) -> str | None:
        w.put("a", b"colleague")  # lands between the listing and the delete
        return original(job, action)

    with monkeypatch.context() as patched:
        patched.setattr(twoway, "_delete_one", racing)
        code, report = w.run()
    assert code == 1 and w.remote()["a"] == b"colleague", report
    code, report = w.run()
    assert code == 1 and _actions(report)["a"] == ("conflict", "deleted locally, edited remotely")


def test_a_local_edit_during_the_run_is_not_replaced(
    moto_s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bucketsync import twoway

    w = World(moto_s3, tmp_path / "L")
    w.write("a", b"1")
    assert w.run()[0] == 0
    w.put("a", b"remote edit")
    original = twoway._unchanged_locally

    def racing(job: Any, report: Any, actions: Any) -> Any:
        w.write("a", b"local edit!")  # lands between the walk and the download
        return original(job, report, actions)

    with monkeypatch.context() as patched:
        patched.setattr(twoway, "_unchanged_locally", racing)
        code, _ = w.run()
    assert code == 1 and w.local()["a"] == b"local edit!"
    code, report = w.run()
    assert code == 1 and _actions(report)["a"][0] == "conflict"


def test_a_local_edit_while_the_download_runs_is_not_replaced(
    moto_s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edit lands after the check before the downloads: the download's rename
    must still leave it alone."""
    from bucketsync import twoway

    w = World(moto_s3, tmp_path / "L")
    w.write("a", b"1")
    w.write("b", b"2")
    w.write("gone", b"3")
    assert w.run()[0] == 0
    w.put("a", b"remote edit")
    w.put("b", b"remote edit")
    w.put("new", b"remote new")
    w.rm_remote("gone")
    original = twoway._unchanged_locally

    def racing(job: Any, report: Any, actions: Any) -> Any:
        kept = original(job, report, actions)
        w.write("a", b"local edit!")  # lands while the downloads run
        w.write("new", b"a local file of the same name")
        w.write("gone", b"edited, not to be deleted")
        return kept

    with monkeypatch.context() as patched:
        patched.setattr(twoway, "_unchanged_locally", racing)
        code, _ = w.run()
    local = w.local()
    assert code == 1 and local["a"] == b"local edit!", local
    assert local["new"] == b"a local file of the same name" and local["b"] == b"remote edit"
    assert local["gone"] == b"edited, not to be deleted"
    code, report = w.run()
    assert code == 1 and _actions(report)["a"][0] == "conflict"
    assert _actions(report)["new"][0] == "conflict" and _actions(report)["gone"][0] == "conflict"


def test_a_user_file_at_the_keep_both_name_loses_neither_version(
    moto_s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file made at the copy's name while the run goes: the copy cannot land, so the
    local version does not replace the remote one, and the user's file stays."""
    from bucketsync import twoway

    w = World(moto_s3, tmp_path / "L")
    w.write("a.txt", b"1")
    assert w.run()[0] == 0
    w.write("a.txt", b"local edit")
    w.put("a.txt", b"remote edit")
    original = twoway._unchanged_locally
    made: list[str] = []

    def racing(job: Any, report: Any, actions: Any) -> Any:
        kept = original(job, report, actions)
        for action in kept:
            if ".conflict-remote-" in action.path:
                w.write(action.path, b"the user's own file")
                made.append(action.path)
        return kept

    with monkeypatch.context() as patched:
        patched.setattr(twoway, "_unchanged_locally", racing)
        code, _ = w.run(conflict="keep-both")
    assert code == 1 and made
    assert w.remote()["a.txt"] == b"remote edit"
    assert w.local()["a.txt"] == b"local edit" and w.local()[made[0]] == b"the user's own file"


def test_hostile_keys_are_refused_one_by_one(moto_s3: S3Env, tmp_path: Path) -> None:
    w = World(moto_s3, tmp_path / "L")
    w.put("ok.txt", b"ok")
    for key in ("../escape", "a//b", "./dot"):
        w.put(key, b"evil")
    code, report = w.run()
    assert code == 1
    assert w.local() == {"ok.txt": b"ok"}
    assert not (tmp_path / "escape").exists()
    assert {e["path"] for e in report["errors"]} >= {"../escape", "a//b", "./dot"}


def test_dry_run_changes_nothing(moto_s3: S3Env, tmp_path: Path) -> None:
    w = World(moto_s3, tmp_path / "L")
    w.write("l", b"l")
    w.put("r", b"r")
    code, report = w.run("cli", dry_run="")
    assert code == 0 and report["dry_run"]
    assert sorted(a["action"] for a in report["actions"]) == ["download", "upload"]
    assert w.local() == {"l": b"l"} and w.remote() == {"r": b"r"}
