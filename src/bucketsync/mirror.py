"""The notebook API: `Mirror`, an S3 prefix seen as a local folder, and `fetch()`."""

from __future__ import annotations

import dataclasses
import difflib
import os
import threading
import time
from collections import Counter, OrderedDict
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, cast

from . import api, cachesize, cleanup, fresh, twoway
from .atomic import AtomicFile
from .cachedir import default_folder, key_lock
from .cacheuse import open_held
from .cleanup import Cleared
from .errors import EndpointError, ObjectNotFound, OfflineWarning, UsageError, warn
from .job import Job, SyncOptions
from .location import S3Location, SyncPair, parse_s3_url
from .locking import folder_lock
from .options import LOCAL, MAX_AGE, S3_URL, one_of, shown
from .pinned import MirrorPin, fetch_version
from .plan import Plan
from .report import Report, Stats
from .state import StateDB
from .stores.local import check_rel, target_path
from .stores.s3 import REQUEST_KINDS
from .text import describe

Offline = Literal["warn", "error", "ignore"]
OFFLINE_MODES: tuple[Offline, ...] = ("warn", "error", "ignore")
MODES = ("r", "rb", "rt", "w", "wb", "wt", "a", "ab", "at")
_UNSET: Any = object()


class Mirror:
    """An S3 prefix and a local folder holding copies of its objects.

    ``Mirror("s3://bucket/EOD/")`` keeps its copies in the per-user cache folder, at
    ``<cache>/<endpoint host>/bucket/EOD/``; pass `local` for another folder.
    `path(key)` and `open(key)` give a current copy of one object, checked with at
    most one request; `pull()`, `push()` and `diff()` work on the whole prefix.

    - max_age: seconds during which a copy verified that recently (by any process,
      or by a sync) is used without asking the server; None asks every time.
    - offline: when the endpoint cannot be reached and a local copy exists, "warn"
      uses it with an `OfflineWarning`, "ignore" uses it silently, "error" raises.
    - max_size: a cap on the cache folder (bytes, or text such as "20GB" or "500MiB";
      default $BUCKETSYNC_CACHE_MAX, else none): after a download into it, the least
      recently used copies go until it fits, never a local change not pushed, a copy
      open for reading (through `open()` or fsspec) or one under a running sync.
    - options: as for `sync()` (endpoint_url, profile, jobs, progress, delete, ...);
      `cluster` (a Dask address or Client) runs `pull()` and `push()` on a cluster.

    A local change (written with ``open(key, "w")``) is kept by `path()` until
    `push()` or `sync()` uploads it. If the server's copy changed too, `path()` keeps
    the local one and warns (`ConflictWarning`); `pull()` and `push()` leave such a
    path alone and report it as a conflict; `sync()` settles it (its `conflict` option).
    """

    def __init__(
        self,
        url: str,
        local: str | os.PathLike[str] | None = None,
        *,
        max_age: float | None = None,
        offline: Offline = "warn",
        max_size: int | str | None = None,
        lock: Any = None,
        at: Any = None,
        **options: Any,
    ) -> None:
        self.location = parse_s3_url(S3_URL("url", url))
        self._pin = None if lock is None and at is None else MirrorPin(self.location, lock, at)
        self.max_age = _max_age(max_age)
        self.offline = _offline(offline)
        self.max_size: int | None = cachesize.SIZE("max_size", max_size)
        cachesize.cap(self.max_size)  # a bad $BUCKETSYNC_CACHE_MAX fails here, not later
        self._cluster = options.pop("cluster", None)  # pull() and push() run on it
        self._options = dict(options)
        self._sync_options = _checked(options)  # fails early on a bad option
        local = LOCAL("local", local)
        self._given_local = None if local is None else Path(local).expanduser().absolute()
        self._local = self._given_local
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._sent: Counter[str] = Counter()  # by syncs, and by closed jobs
        self.downloads = 0

    @property
    def url(self) -> str:
        return str(self.location)

    @property
    def local(self) -> Path:
        """The local folder (the default one depends on the endpoint)."""
        return self._local or self._open().root

    @property
    def requests(self) -> dict[str, int]:
        """HTTP requests this Mirror sent so far in this process, by kind (list, head,
        get, put, delete, other): by `path()`, `open()`, `pull()`, `push()` and `diff()`."""
        with self._lock:
            sent = Counter(self._sent)
            if self._job is not None:
                sent.update(self._job.stats.requests.as_dict())
        return {kind: sent[kind] for kind in REQUEST_KINDS}

    def path(self, key: str, *, max_age: float | None = _UNSET, offline: Offline = _UNSET) -> Path:
        """The local path of a current copy of the object at key (below the prefix).

        One request (a conditional GET) checks and, if needed, downloads it; none
        within `max_age` seconds of the last check. Raises `ObjectNotFound` if
        there is no such object.
        """
        downloads = self.downloads
        path = self._path(key, max_age, offline)
        cachesize.used(path, self.max_size, added=self.downloads != downloads)
        return path

    def _path(self, key: str, max_age: float | None, offline: Offline) -> Path:
        rel = _rel(key)
        if self._pin is not None:
            return self._pin.path(self.local, rel, self._options)
        age = self.max_age if max_age is _UNSET else _max_age(max_age)
        offline = self.offline if offline is _UNSET else _offline(offline)
        job = self._open()
        path = target_path(job.root, rel)
        since = time.time() - (age or 0.0)
        if age and fresh.vouched(job, rel, path, since):
            return path
        with key_lock(path):
            if fresh.vouched(job, rel, path, since):  # checked while we waited
                return path
            return self._refresh(job, rel, path, offline)

    def open(self, key: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Open the local copy of key like the built-in `open` (modes r, w, a; b or t).

        Reading opens a current copy (as `path()`), held until closed: the bounded
        cache never removes it meanwhile. Writing goes to a temporary file that
        replaces the local copy when closed; `push()` uploads it.
        """
        if mode not in MODES:
            raise UsageError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode.startswith("r"):
            return open_held(lambda: self.path(key), mode, **kwargs)
        if self._pin is not None:
            raise self._pin.refuse(f"open({key!r}, {mode!r})")
        rel, root = _rel(key), self.local
        seed = self._current_or_none(key) if mode.startswith("a") else None
        return cast(IO[Any], AtomicFile(root, target_path(root, rel), mode, seed, **kwargs))

    def pull(self, **options: Any) -> Report:
        """Make the local folder hold what the prefix holds: ``sync(url, local)``, except
        that a path changed on both sides since they were last identical is left alone
        and reported as a conflict (`sync()` settles those). For a pinned Mirror: what
        the lock pins."""
        if self._pin is not None:
            return self._pin.pull(self.local, {**self._options, **options})
        report = self._sync(self.url, self.local, options, spare_changed=True)
        with self._lock:
            self.downloads += report.downloaded
        if report.downloaded and not report.dry_run:
            cachesize.pulled(self.local, self.max_size)
        return report

    def push(self, **options: Any) -> Report:
        """Upload what differs locally (e.g. files written with `open()`): ``sync(local, url)``,
        leaving alone (as a conflict) a path changed on both sides."""
        if self._pin is not None:
            raise self._pin.refuse("push()")
        self.local.mkdir(parents=True, exist_ok=True)
        return self._sync(self.local, self.url, options, spare_changed=True)

    def sync(self, **options: Any) -> Report:
        """Two-way: take changes from both sides (`bisync`); `conflict` settles a path
        changed on both ("skip" by default: reported, neither side touched)."""
        if self._pin is not None:
            raise self._pin.refuse("sync()")
        merged = {k: v for k, v in {**self._options, **options}.items() if k != "delete"}
        report = twoway.bisync(self.local, self.url, **merged)
        with self._lock:
            self.downloads += report.downloaded
            self._sent.update(report.requests)
        if report.downloaded and not report.dry_run:
            cachesize.pulled(self.local, self.max_size)
        return report

    def diff(self, direction: Literal["pull", "push"] = "pull", **options: Any) -> Plan:
        """What `pull()` (or `push()`) would do, with a reason per file; moves nothing."""
        if self._pin is not None and direction == "pull":
            return self._pin.diff(self.local, {**self._options, **options})
        options = {**options, "dry_run": True}  # a dry run's plan is diff()'s, and counted
        if direction == "pull":
            return self._sync(self.url, self.local, options).plan
        if direction == "push":
            return self._sync(self.local, self.url, options).plan
        raise UsageError(f"direction must be 'pull' or 'push', not {direction!r}")

    def clear(self, *, force: bool = False) -> Cleared:
        """Delete the local copies this Mirror synced, forget their state, keep the rest.

        A copy goes only while it is still the version synced (same fingerprint, else
        same CRC64NVME); a local change not pushed goes only with ``force=True``.
        Files never synced and symbolic links (never followed) stay; folders go once
        emptied. What was kept is named in a `KeptWarning`; the result lists what was
        removed and kept, with reasons.
        """
        return self._clear(force, what="clear()")

    def close(self) -> None:
        """Release the client and the state database (they reopen when needed)."""
        with self._lock:
            job, self._job = self._job, None
            if job is not None:
                self._sent.update(job.stats.requests.as_dict())
        if job is not None:
            job.state.close()

    def _sync(
        self,
        src: str | Path,
        dst: str | Path,
        options: dict[str, Any],
        *,
        spare_changed: bool = False,
    ) -> Report:
        """`sync()` with this Mirror's options, its requests counted in `requests`;
        `spare_changed` leaves alone (as a conflict) a path changed on both sides."""
        options = dict(options)
        cluster = options.pop("cluster", self._cluster)
        merged = api._options({**self._options, **options})
        report = api.run_sync(src, dst, merged, spare_changed=spare_changed, cluster=cluster)
        with self._lock:
            self._sent.update(report.requests)
        return report

    def _open(self) -> Job:
        with self._lock:
            if self._job is None:
                local = self._given_local
                if local is None and self._pin is not None:
                    local = self._pin.folder(self._options)
                self._job = _open_job(self.location, local, self._sync_options)
                self._local = self._job.root
            return self._job

    def _clear(self, force: bool, what: str) -> Cleared:
        """`clear()`; its warning names `what`, and points at the caller's line."""
        if not isinstance(force, bool):
            raise UsageError(f"force must be True or False, not {force!r}")
        job = self._open()
        with folder_lock(job.root, self._sync_options.lock_timeout):
            cleared = cleanup.clean_up(job.root, job.state, job.scope, force=force)
        cleanup.warn_kept(cleared, job.root, what)
        return cleared

    def _refresh(self, job: Job, rel: str, path: Path, offline: Offline) -> Path:
        try:
            downloaded = fresh.refresh(job, rel, self._sync_options.progress)
        except EndpointError as e:
            if offline == "error" or not path.is_file():
                raise
            if offline == "warn":
                message = describe(rel, f"{e}; using the local copy unchecked", "remote", job.pair)
                warn(message, OfflineWarning)  # about the user's line, not this one
            return path
        if downloaded:
            with self._lock:
                self.downloads += 1
        return path

    def push_key(self, key: str) -> str | None:
        """Upload the local copy of one key unless the server holds the same content.

        As `push()` does for one file: compared by content, verified by the server,
        conditional on the object being as last seen. The new ETag, or None.
        """
        return self._push_key(key)

    def _pull_key(self, key: str) -> Path:
        """`path()` that always checks, and where the server's copy wins over a local change."""
        rel, job = _rel(key), self._open()
        path = target_path(job.root, rel)
        with key_lock(path):
            if fresh.refresh(job, rel, self._sync_options.progress, overwrite=True):
                with self._lock:
                    self.downloads += 1
        return path

    def _push_key(self, key: str) -> str | None:
        """Upload one local copy unless the server holds the same; the new ETag, or None."""
        rel, job = _rel(key), self._open()
        with key_lock(target_path(job.root, rel)):
            return fresh.push_key(job, rel, self._sync_options.progress)

    def _current_or_none(self, key: str) -> Path | None:
        try:
            return self.path(key)
        except ObjectNotFound:
            return None

    def __enter__(self) -> Mirror:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # A default folder is found again where unpickled (it depends on the endpoint).
        return {
            "url": self.url,
            "local": self._given_local,
            "max_age": self.max_age,
            "offline": self.offline,
            "max_size": self.max_size,
            "options": self._options,
            **({} if self._pin is None else self._pin.state()),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["url"],
            state["local"],
            max_age=state["max_age"],
            offline=state["offline"],
            max_size=state.get("max_size"),
            lock=state.get("lock"),
            at=state.get("at"),
            **state["options"],
        )

    def __repr__(self) -> str:
        local = f", local={str(self._given_local)!r}" if self._given_local else ""
        return f"Mirror({self.url!r}{local})"


def fetch(
    url: str,
    *,
    max_age: float | None = None,
    offline: Offline = "warn",
    version: str | None = None,
    max_size: int | str | None = None,
    **options: Any,
) -> Path:
    """The local path of a current copy of one object, downloaded only if it changed.

    ``fetch("s3://bucket/EOD/prices.parquet")`` gives
    ``<cache>/<endpoint host>/bucket/EOD/prices.parquet``, checked with at most one
    request (none within `max_age` seconds of the last check). `offline` and
    `options` are as for `Mirror`. With `version` (an S3 version id), the copy of
    that version, kept apart from the current copy (``.../.versions/...``). `max_size`
    caps the cache folder, as for `Mirror`.
    """
    if version is not None:
        return fetch_version(url, version, **options)
    if max_size is not None:
        options["max_size"] = max_size
    location = parse_s3_url(S3_URL("url", url), as_folder=False)
    folder, _, name = location.prefix.rpartition("/")
    if not name:
        raise UsageError(f"not the URL of an object (s3://bucket/key): {url!r}")
    prefix = f"{folder}/" if folder else ""
    mirror = _shared_mirror(f"s3://{location.bucket}/{prefix}", options)
    return mirror.path(name, max_age=max_age, offline=offline)


_SHARED: OrderedDict[tuple[object, ...], Mirror] = OrderedDict()
_SHARED_LOCK = threading.Lock()
_SHARED_MAX = 8
_ENVIRONMENT = (  # what decides the endpoint, the credentials and the folders
    *("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"),
    *("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    *("AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE"),
    *("BUCKETSYNC_STATE_DIR", "BUCKETSYNC_CACHE_DIR"),
)


def _shared_mirror(url: str, options: dict[str, Any]) -> Mirror:
    """`fetch()` reuses a Mirror (making a client takes ~0.1 s) while nothing changed."""
    env = tuple(os.environ.get(name) for name in _ENVIRONMENT)
    key = (url, repr(sorted(options.items())), env)
    with _SHARED_LOCK:
        mirror = _SHARED.pop(key, None) or Mirror(url, **options)
        _SHARED[key] = mirror
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)[1].close()
    return mirror


def _open_job(location: S3Location, local: Path | None, options: SyncOptions) -> Job:
    """A long-lived job for one-key work: the client, the state database, the scope."""
    stats = Stats()
    store = api.make_store(location, options, stats)
    root = local or default_folder(store.endpoint, location)
    state = StateDB()
    scope = state.scope(root, store.endpoint, location.bucket, location.prefix)
    return Job(SyncPair("pull", root, location), options, store, state, scope, stats)


_OWN_OPTIONS = ("local", "max_age", "offline", "max_size")


def _checked(options: dict[str, Any]) -> SyncOptions:
    """A Mirror's sync options; an unknown name is told along with the Mirror's own."""
    known = [*_OWN_OPTIONS, *(f.name for f in dataclasses.fields(SyncOptions))]
    unknown = [name for name in options if name not in known]
    if not unknown:
        return api._options(dict(options))
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1) if len(name) < 100 else []
        parts.append(shown(name) + (f" (did you mean {close[0]}?)" if close else ""))
    raise UsageError(f"unknown option {', '.join(parts)}; the options are {', '.join(known)}")


def _rel(key: str) -> str:
    if not isinstance(key, str):
        raise UsageError(f"a key is a string, not {type(key).__name__}")
    check_rel(key)
    return key


_OFFLINE = one_of(OFFLINE_MODES)


def _max_age(value: float | None) -> float | None:
    return MAX_AGE("max_age", value)


def _offline(value: str) -> Offline:
    return _OFFLINE("offline", value)
