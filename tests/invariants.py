"""Invariants checked around every end-to-end sync of the test suite (issue 11).

The autouse fixture in conftest.py installs a :class:`Monitor` per test. It wraps
``bucketsync.api.sync`` and ``bucketsync.api.diff`` (Mirror, LocalObjectCache and the
in-process CLI go through them) and watches ``subprocess.Popen`` for runs of the
``bucketsync`` command. Around each one it snapshots the test's folder and, when it can
reach the server, lists the sync's prefix; afterwards it checks:

- a. outside: nothing changed outside the local folder of a pull (a push changes no
  local file; its walk may only remove orphaned temporary files);
- b. modes: a file the sync created has mode ``0o666 & ~umask`` (no execute bit), a
  file it replaced keeps its mode, a folder it made is no wider than the umask allows;
- c. plan: no non-temporary file (local, or object in the bucket) was created, changed
  or removed that the plan did not name; a pull never changes the bucket;
- d. temp: a sync that returned left no temporary file behind (but the partial
  downloads the state database keeps for the next sync to resume);
- dry: ``diff`` and a dry run changed nothing at all, locally or in the bucket.

The CLI's plan is not known here, so CLI runs get a, b, d and dry. The snapshot is
stat-based; only small files are hashed, and a digest is reused while a file's stat
is unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import sqlite3
import stat
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bucketsync
from bucketsync import api
from bucketsync.location import SyncPair, parse_pair
from bucketsync.plan import Plan
from bucketsync.report import Report
from bucketsync.stores.local import is_temp_name

INVARIANTS = ("outside", "plan", "dry", "temp", "modes")  # the rarer first in reports
SMALL = 4 * 1024 * 1024  # files up to this size are hashed; larger ones compared by stat
MAX_KEYS = 5000  # prefixes with more keys than this are not listed around a sync
TOTALS: Counter[str] = Counter()  # the session's figures, summed over every test
BROKEN: dict[str, list[str]] = {}  # test id -> its violations, for the session's log
_TOTALS_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --- local snapshots ------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """What a snapshot keeps of one path (lstat, plus a digest of small files)."""

    kind: str  # "file", "dir", "link" or "other"
    mode: int  # permission bits
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    digest: str | None = None
    link: str | None = None

    def same_stat(self, other: Entry) -> bool:
        return (self.size, self.mtime_ns, self.ctime_ns, self.ino) == (
            other.size,
            other.mtime_ns,
            other.ctime_ns,
            other.ino,
        )


Snapshot = dict[str, Entry]  # real absolute path -> entry
Found = list[tuple[str, str]]  # (invariant, message)


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.blake2b(f.read(), digest_size=16).hexdigest()
    except OSError:
        return None


def _entry(path: str, st: os.stat_result, previous: Entry | None) -> Entry:
    mode = stat.S_IMODE(st.st_mode)
    facts = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if stat.S_ISDIR(st.st_mode):
        return Entry("dir", mode, *facts)
    if stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(OSError):
            return Entry("link", mode, *facts, link=os.readlink(path))
        return Entry("link", mode, *facts)
    if not stat.S_ISREG(st.st_mode):
        return Entry("other", mode, *facts)
    entry = Entry("file", mode, *facts)
    if previous is not None and previous.kind == "file" and previous.same_stat(entry):
        return Entry("file", mode, *facts, digest=previous.digest)
    return Entry("file", mode, *facts, digest=_digest(path) if st.st_size <= SMALL else None)


def snapshot(
    roots: Iterable[str], skip: Iterable[str], previous: Snapshot | None = None
) -> Snapshot:
    """Every path below roots (links not followed), except the `skip` folders."""
    skipped, seen = {os.path.realpath(s) for s in skip}, previous or {}
    out: Snapshot = {}

    def walk(folder: str) -> None:
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            return
        for e in entries:
            if e.path in skipped:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            out[e.path] = _entry(e.path, st, seen.get(e.path))
            if stat.S_ISDIR(st.st_mode):
                walk(e.path)

    for root in {os.path.realpath(r) for r in roots}:
        if os.path.isdir(root) and not os.path.islink(root):
            walk(root)
    return out


def changes(before: Snapshot, after: Snapshot) -> dict[str, str]:
    """Paths that appeared, disappeared or changed between two snapshots, and how."""
    out: dict[str, str] = {}
    for path in before.keys() | after.keys():
        old, new = before.get(path), after.get(path)
        if old is None:
            out[path] = "created"
        elif new is None:
            out[path] = "removed"
        elif old.kind != new.kind:
            out[path] = f"replaced a {old.kind} by a {new.kind}"
        elif _content_changed(old, new):
            out[path] = "content changed"
        elif old.mode != new.mode:
            out[path] = f"mode changed {old.mode:#o} -> {new.mode:#o}"
    return out


def _content_changed(old: Entry, new: Entry) -> bool:
    if old.kind == "link":
        return old.link != new.link
    if old.kind != "file" or old.same_stat(new):
        return False
    if old.size != new.size:
        return True
    return old.digest is None or new.digest is None or old.digest != new.digest


# --- the bucket side ------------------------------------------------------------------

_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _client(endpoint: str) -> Any:
    with _CLIENTS_LOCK:
        if endpoint not in _CLIENTS:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=2, read_timeout=5, retries={"max_attempts": 1, "mode": "standard"}
            )
            _CLIENTS[endpoint] = boto3.client("s3", endpoint_url=endpoint, config=config)
        return _CLIENTS[endpoint]


def list_prefix(bucket: str, prefix: str) -> dict[str, tuple[str, int]] | None:
    """Key -> (ETag, size) under the prefix on $AWS_ENDPOINT_URL; None if unknown."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return None
    out: dict[str, tuple[str, int]] = {}
    try:
        pages = _client(endpoint).get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"][len(prefix) :]] = (obj["ETag"], obj["Size"])
            if len(out) > MAX_KEYS:
                return None
    except Exception:  # a stub server, an unknown bucket, wrong credentials: not checked
        return None
    return out


# --- one sync under watch -------------------------------------------------------------


@dataclass
class Call:
    """One watched sync, diff or CLI run, and what is known of it."""

    label: str  # e.g. "sync(push)", "diff", "cli sync(pull)"
    pair: SyncPair | None  # None: the arguments were invalid, so nothing may change
    dry: bool
    skip: list[str]  # folders that may change (the state folder)
    plan: Plan | None = None  # known for API calls that got as far as a plan
    overlapped: bool = False  # another watched call ran at the same time
    before: Snapshot = field(default_factory=dict)
    remote_before: dict[str, tuple[str, int]] | None = None

    @property
    def local(self) -> str | None:
        return None if self.pair is None else os.path.realpath(self.pair.local)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _real(root: str, rel: str) -> str:
    """The real path a plan's relative path is written at (links in its folders resolved)."""
    path = os.path.join(root, *rel.split("/"))
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


class Monitor:
    """Watches the syncs of one test and collects what breaks the invariants."""

    def __init__(self, tmp_path: Path, skip: Sequence[str] = ()) -> None:
        self.root = os.path.realpath(tmp_path)
        self.skipped = set(skip)  # invariants this test opted out of
        self.violations: list[str] = []
        self.counts: Counter[str] = Counter()
        self._last: Snapshot | None = None
        self._lock = threading.Lock()
        self._active: list[Call] = []
        self._running = threading.local()  # this thread's stack of API calls

    # -- hooking ----------------------------------------------------------------------

    def install(self, monkeypatch: Any, modules: Iterable[Any] = ()) -> None:
        """Wrap api.sync / api.diff (also where re-exported) and watch subprocesses."""
        wrapped = {api.sync: self.wrap_sync(api.sync), api.diff: self.wrap_diff(api.diff)}
        for module in (api, bucketsync, *modules):
            for name in ("sync", "diff"):
                original = getattr(module, name, None)
                if original in wrapped:
                    monkeypatch.setattr(module, name, wrapped[original])
        if hasattr(api, "_plan"):
            monkeypatch.setattr(api, "_plan", self.wrap_plan(api._plan))
        monkeypatch.setattr(subprocess, "Popen", watched_popen(self))

    def wrap_plan(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Note the plan of a sync as soon as it exists, in case the sync then raises."""

        @functools.wraps(original)
        def plan(job: Any) -> Any:
            planned = original(job)
            stack = getattr(self._running, "calls", None)
            if stack:
                stack[-1].plan = planned.plan
            return planned

        return plan

    @contextlib.contextmanager
    def _running_call(self, call: Call) -> Iterator[None]:
        stack = self._running.__dict__.setdefault("calls", [])
        stack.append(call)
        try:
            yield
        finally:
            stack.pop()

    def wrap_sync(self, original: Callable[..., Report]) -> Callable[..., Report]:
        @functools.wraps(original)
        def sync(src: Any, dst: Any, **options: Any) -> Report:
            call = self._begin("sync", src, dst, bool(options.get("dry_run")))
            returned = False
            try:
                with self._running_call(call):
                    report = original(src, dst, **options)
                call.plan, returned = report.plan, True
                return report
            finally:
                self._end(call, returned)

        return sync

    def wrap_diff(self, original: Callable[..., Plan]) -> Callable[..., Plan]:
        @functools.wraps(original)
        def diff(src: Any, dst: Any, **options: Any) -> Plan:
            call = self._begin("diff", src, dst, True)
            returned = False
            try:
                with self._running_call(call):
                    plan = original(src, dst, **options)
                call.plan, returned = plan, True
                return plan
            finally:
                self._end(call, returned)

        return diff

    # -- around one call ----------------------------------------------------------------

    def _begin(
        self, label: str, src: Any, dst: Any, dry: bool, env: dict[str, str] | None = None
    ) -> Call:
        try:
            pair: SyncPair | None = parse_pair(src, dst)
            os.path.realpath(pair.local)  # a path the OS refuses (a NUL) is no pair
        except Exception:
            pair = None
        state = (env if env is not None else os.environ).get("BUCKETSYNC_STATE_DIR")
        call = Call(label, pair, dry, [state] if state else [])
        if pair is not None:
            call.label = f"{label}({'dry ' if dry else ''}{pair.direction}) {pair.local}"
        with self._lock:
            if self._active:
                call.overlapped = True
                for other in self._active:
                    other.overlapped = True
            self._active.append(call)
        started = time.perf_counter()
        call.before = snapshot(self._roots(call), call.skip, self._last)
        if pair is not None and "plan" not in self.skipped:
            call.remote_before = list_prefix(pair.remote.bucket, pair.remote.prefix)
        self._spent(started)
        return call

    def _spent(self, started: float) -> None:
        with self._lock:
            self.counts["checking ms"] += round((time.perf_counter() - started) * 1000)

    def _roots(self, call: Call) -> list[str]:
        local = call.local
        if local is None or _under(local, self.root):
            return [self.root]
        return [self.root, local]

    def _end(self, call: Call, returned: bool, cli: bool = False) -> None:
        with self._lock:
            self._active.remove(call)
        started = time.perf_counter()
        after = snapshot(self._roots(call), call.skip, call.before)
        self._last = after
        found = self.check(call, after, returned, cli)
        if call.remote_before is not None and call.pair is not None:
            remote_after = list_prefix(call.pair.remote.bucket, call.pair.remote.prefix)
            if remote_after is not None and not call.overlapped:
                found += self.check_remote(call, call.remote_before, remote_after)
                self.counts["keys compared"] += len(remote_after)
        kind = "CLI runs" if cli else ("dry runs and diffs" if call.dry else "syncs")
        self.counts[f"{kind} checked"] += 1
        self.counts["paths compared"] += len(after)
        rank = {name: n for n, name in enumerate(INVARIANTS)}
        shown = [
            f"[{name}] {call.label}: {text}".replace(self.root + os.sep, "")
            for name, text in sorted(found, key=lambda f: rank[f[0]])
            if name not in self.skipped
        ]
        self.counts["violations"] += len(shown)
        self.violations.extend(shown)
        self._spent(started)

    # -- the rules ------------------------------------------------------------------------

    def check(
        self, call: Call, after: Snapshot, returned: bool, cli: bool
    ) -> list[tuple[str, str]]:
        """(invariant, message) for every local change the rules do not allow."""
        rules = _Rules(call, returned, cli, current_umask())
        found: list[tuple[str, str]] = []
        for path, what in sorted(changes(call.before, after).items()):
            found += rules.judge(path, what, call.before.get(path), after.get(path))
        return found

    def check_remote(
        self, call: Call, before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]
    ) -> list[tuple[str, str]]:
        """Objects created, changed or removed that the plan (a push's) did not name."""
        allowed: set[str] = set()
        pushing = call.pair is not None and call.pair.direction == "push" and not call.dry
        if pushing and call.plan is not None:
            allowed = {a.path for a in call.plan}
        elif pushing:
            return []  # the CLI's plan is unknown
        found: list[tuple[str, str]] = []
        for rel in sorted(before.keys() | after.keys()):
            if before.get(rel) == after.get(rel) or rel in allowed:
                continue
            what = "created" if rel not in before else "removed" if rel not in after else "changed"
            name = "dry" if call.dry else "plan"
            found.append((name, f"object {rel!r} {what}, but the plan does not name it"))
        return found

    # -- the CLI ---------------------------------------------------------------------------

    def begin_cli(self, argv: Sequence[str], env: dict[str, str] | None, cwd: str | None) -> Call:
        src, dst, dry = cli_target(argv)
        base = cwd or os.getcwd()
        if src is not None and dst is not None:
            src = src if src.startswith("s3://") else os.path.join(base, src)
            dst = dst if dst.startswith("s3://") else os.path.join(base, dst)
        env = dict(env) if env is not None else dict(os.environ)
        call = self._begin("cli sync", src, dst, dry, env)
        call.remote_before = None  # another process may own the bucket meanwhile
        return call

    def abandon(self, call: Call) -> None:
        """Forget a call that never ran (its process could not start)."""
        with self._lock:
            if call in self._active:
                self._active.remove(call)

    def end_cli(self, call: Call, returncode: int) -> None:
        self._end(call, returned=returncode >= 0 and returncode != 130, cli=True)

    def narrow(self, folder: Path) -> None:
        """Watch only folder from now on (a property test's example, not the ones before)."""
        self.root, self._last = os.path.realpath(folder), None

    def take(self) -> list[str]:
        """The violations found so far, handed over (and forgotten) for the caller to judge."""
        found, self.violations = self.violations, []
        return found

    def finish(self, test: str) -> list[str]:
        """The test is over: add its counts to the session's, return its violations."""
        with self._lock:
            self._active.clear()  # processes never waited for are not judged
        with _TOTALS_LOCK:
            TOTALS.update(self.counts)
            TOTALS["tests watched"] += 1
            if self.counts:
                TOTALS["tests with syncs"] += 1
            if self.violations:
                BROKEN[test] = list(self.violations)
        return self.violations


@dataclass
class _Rules:
    """What one call may change locally: the rules of invariants a to d, path by path."""

    call: Call
    returned: bool
    cli: bool
    umask: int
    writes: set[str] = field(default_factory=set)  # real paths the plan downloads to
    deletes: set[str] = field(default_factory=set)  # real paths the plan deletes

    def __post_init__(self) -> None:
        local, plan = self.call.local, self.call.plan
        if self.pulling and local is not None and plan is not None:
            self.writes = {_real(local, a.path) for a in plan if a.action == "download"}
            self.deletes = {_real(local, a.path) for a in plan if a.action == "delete"}

    @property
    def pulling(self) -> bool:
        pair = self.call.pair
        return pair is not None and pair.direction == "pull" and not self.call.dry

    def judge(self, path: str, what: str, old: Entry | None, new: Entry | None) -> Found:
        local = self.call.local
        temp = is_temp_name(os.path.basename(path))
        inside = local is not None and _under(path, local)
        if self.call.dry:
            return [("dry", f"{path}: {what} by a run that must change nothing")]
        if temp and inside and new is None:
            return []  # an orphaned temporary file, removed by the walk
        made_folder = old is None and new is not None and new.kind == "dir"
        if self.pulling and made_folder and local is not None and _under(local, path):
            return _mode_rule(path, old, new, self.umask)  # the folder of a pull, and its parents
        if not (self.pulling and inside):
            if self.call.overlapped:
                return []  # another sync ran at the same time: not ours to judge
            where = f"outside {local}" if self.pulling else "by a sync that writes no local file"
            return [("outside", f"{path}: {what} {where}")]
        if temp:
            left = old is None and self.returned and not self.call.overlapped
            if left and path not in _kept_partials():
                return [("temp", f"{path}: temporary file left after the sync")]
            return []
        if self.cli or self.call.overlapped or self.allowed(path, old, new):
            return _mode_rule(path, old, new, self.umask)
        return [("plan", f"{path}: {what}, but the plan does not name it")]

    def allowed(self, path: str, old: Entry | None, new: Entry | None) -> bool:
        """Whether the plan named path (or path is a folder made for what it names)."""
        if path in self.writes or (path in self.deletes and new is None):
            return True
        made_dir = new is not None and new.kind == "dir"
        if made_dir and (old is None or path in self.deletes):  # a delete cleared its way
            return path == self.call.local or any(_under(w, path) for w in self.writes)
        return False


def _kept_partials() -> set[str]:
    """Real paths of partial downloads the state database keeps for the next sync to
    resume (a transfer that failed part-way): left on purpose (resume.py)."""
    folder = os.environ.get("BUCKETSYNC_STATE_DIR")
    path = os.path.join(folder, "state.sqlite3") if folder else ""
    if not path or not os.path.exists(path):
        return set()
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            rows = db.execute("SELECT temp FROM downloads").fetchall()
    except sqlite3.Error:
        return set()
    return {os.path.realpath(row[0]) for row in rows}


def _mode_rule(
    path: str, old: Entry | None, new: Entry | None, umask: int
) -> list[tuple[str, str]]:
    """Invariant b for one path the sync was allowed to write."""
    if new is None:
        return []
    if new.kind == "file":
        want = old.mode if old is not None and old.kind == "file" else 0o666 & ~umask
        if new.mode != want:
            replaced = old is not None and old.kind == "file"
            why = "kept from the file it replaced" if replaced else f"umask {umask:#05o}"
            return [("modes", f"{path}: mode {new.mode:#05o}, expected {want:#05o} ({why})")]
    elif new.kind == "dir" and old is None and new.mode & ~(0o777 & ~umask):
        return [("modes", f"{path}: new folder mode {new.mode:#05o} wider than umask {umask:#05o}")]
    return []


def cli_target(argv: Sequence[str]) -> tuple[str | None, str | None, bool]:
    """SRC, DST and dry-ness of a bucketsync command line (Nones if it does not parse)."""
    from bucketsync import cli

    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            args = cli._parser().parse_args(list(argv))
    except (SystemExit, Exception):
        return None, None, True
    if args.command == "snapshot":  # writes its lockfile (-o) and nothing else
        if args.output is None:
            return None, None, True
        return str(args.url), os.path.dirname(str(args.output)) or ".", False
    dry = args.command in ("diff", "check") or bool(getattr(args, "dry_run", False))
    return str(args.src), str(args.dst), dry


def bucketsync_argv(args: Any) -> list[str] | None:
    """The arguments after the program, if `args` runs the bucketsync command line."""
    if isinstance(args, str | bytes | os.PathLike):
        return None
    argv = [os.fsdecode(a) for a in args]
    if not argv:
        return None
    if os.path.basename(argv[0]) == "bucketsync":
        return argv[1:]
    if "python" in os.path.basename(argv[0]) and argv[1:3] == ["-m", "bucketsync"]:
        return argv[3:]
    return None


def watched_popen(monitor: Monitor) -> type[subprocess.Popen[Any]]:
    """A Popen that checks the invariants around each run of the bucketsync CLI."""

    class WatchedPopen(subprocess.Popen):  # type: ignore[type-arg]
        _call: Call | None = None

        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            argv = bucketsync_argv(args)
            if argv is not None and argv[:1] != ["cache"]:  # `cache` syncs nothing
                self._call = monitor.begin_cli(argv, kwargs.get("env"), kwargs.get("cwd"))
            try:
                super().__init__(args, *rest, **kwargs)
            except BaseException:
                if self._call is not None:
                    monitor.abandon(self._call)
                raise

        def wait(self, timeout: float | None = None) -> int:
            code = super().wait(timeout)
            call, self._call = self._call, None
            if call is not None:
                monitor.end_cli(call, code)
            return code

    return WatchedPopen


def summary_lines(totals: Counter[str]) -> list[str]:
    """The session's figures, one per line, for pytest's terminal summary."""
    order = ["tests with syncs", "syncs checked", "dry runs and diffs checked", "CLI runs checked"]
    order += ["paths compared", "keys compared", "violations"]
    return [f"{name}: {totals.get(name, 0):,}" for name in order] + [
        f"seconds spent checking: {totals.get('checking ms', 0) / 1000:.1f}",
        f"invariants: {', '.join(INVARIANTS)}",
    ]
