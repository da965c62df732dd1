"""Settle one pair: ask `compare.decide`, and fetch what it needs until it answers."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .compare import Facts, Verdict, decide
from .entries import LocalFile, Record, RemoteObject
from .hashing import hash_file, multipart_count
from .job import Job
from .state import is_racy, make_record
from .stores.local import local_file, target_path

MAX_ROUNDS = 4


@dataclass(frozen=True)
class Checked:
    """A verdict, the local digests computed for it, and a record when found identical."""

    verdict: Verdict
    digests: Mapping[str, str] = field(default_factory=dict)
    record: Record | None = None


def check(job: Job, local: LocalFile, remote: RemoteObject, record: Record | None) -> Checked:
    """Compare one pair, with at most one HEAD and one read of the local file."""
    facts = Facts(local, remote, record, mode=job.options.compare, push=job.push)
    verdict = decide(facts)
    for _ in range(MAX_ROUNDS):
        if verdict.same is not None:
            break
        facts = _learn(job, facts, verdict)
        verdict = decide(facts)
    if verdict.same is None:
        verdict = Verdict(False, "could not settle the comparison; transferring")
    return Checked(verdict, facts.digests, _new_record(job, facts, verdict))


def _learn(job: Job, facts: Facts, verdict: Verdict) -> Facts:
    if verdict.need_head:
        part = 1 if multipart_count(facts.remote.etag) is not None else None
        return replace(facts, head=job.store.head(facts.remote.key, part_number=part))
    names = set(verdict.need_hash) | set(facts.digests)
    path = target_path(job.root, facts.local.rel)
    digests = hash_file(path, names, follow_symlinks=job.options.follow_symlinks)
    job.stats.hashed(facts.local.size)
    after = local_file(facts.local.rel, os.stat(path))
    if after.fingerprint != facts.local.fingerprint:
        # The file changed since the walk: judge (and later record) the new version.
        return replace(facts, local=after, digests=digests, record=None)
    return replace(facts, digests=digests)


def _new_record(job: Job, facts: Facts, verdict: Verdict) -> Record | None:
    """A state row when content was proven equal now (not just read from the database)."""
    if not verdict.same or job.options.compare != "content":
        return None
    old = facts.record
    if old and old.local_matches(facts.local) and old.remote_matches(facts.remote):
        return None
    digests = dict(facts.digests)
    if "crc64nvme" not in digests and old and old.local_matches(facts.local):
        digests.setdefault("crc64nvme", old.crc64nvme)
        if old.md5:
            digests.setdefault("md5", old.md5)
    if "crc64nvme" not in digests:
        return None
    racy = is_racy(facts.local, time.time_ns())
    return make_record(facts.local, digests, facts.remote.etag, facts.remote.size, racy=racy)
