"""The issue's targets, checked against the raw runs of this session."""

from __future__ import annotations

from dataclasses import dataclass

from .results import Session
from .summary import BS, headline, ok_runs, seconds, size_text, speedup, summaries


@dataclass(frozen=True)
class Verdict:
    scenario: str
    target: str
    measured: str
    hit: bool | None  # None: not measured in this session


def evaluate(session: Session) -> list[Verdict]:
    out: list[Verdict] = []
    for check in (_s1, _s2, _s3, _s4, _s5, _s6, _s7, _s8, _s9, _s10):
        out.extend(check(session))
    return out


def _s1(session: Session) -> list[Verdict]:
    out = []
    for case in ("pull", "push"):
        n = headline(session, "S1", case)
        aws = speedup(session, "S1", case, "aws", n)
        s5 = speedup(session, "S1", case, "s5cmd", n)
        ours_to_s5 = 1 / s5 if s5 else None
        out.append(
            Verdict(
                "S1",
                ">=3x faster than aws s3 sync",
                f"{case} {n} files: aws takes {_x(aws)} bucketsync's time",
                None if aws is None else aws >= 3,
            )
        )
        out.append(
            Verdict(
                "S1",
                "within 1.3x of s5cmd",
                f"{case} {n} files: bucketsync takes {_x(ours_to_s5)} s5cmd's time",
                None if ours_to_s5 is None else ours_to_s5 <= 1.3,
            )
        )
    return out


def _s2(session: Session) -> list[Verdict]:
    out = []
    for case in ("push", "pull"):
        n = headline(session, "S2", case)
        floor = speedup(session, "S2", case, "floor", n)
        to_floor = 1 / floor if floor else None
        out.append(
            Verdict(
                "S2",
                "<=1.5x the floor (listing + stat)",
                f"{case} {n} files: bucketsync takes {_x(to_floor)} the floor's time",
                None if to_floor is None else to_floor <= 1.5,
            )
        )
        peers = [
            (t, speedup(session, "S2", case, t, n))
            for t in session.tools(session.select("S2", case, files=n))
            if t != BS and not t.startswith("floor")
        ]
        timed = [(t, x) for t, x in peers if x is not None]
        fastest = min(timed, key=lambda p: p[1]) if timed else None
        text = (
            f"{case} {n} files: the fastest peer, {fastest[0]}, takes {_x(fastest[1])}"
            " bucketsync's time"
            if fastest
            else "no peer measured"
        )
        out.append(
            Verdict("S2", "faster than every peer", text, None if not fastest else fastest[1] > 1)
        )
    return out


def _s3(session: Session) -> list[Verdict]:
    out = []
    for case in ("push", "pull"):
        n = headline(session, "S3", case)
        hashed = [s.get("bytes_hashed", 0) for s in summaries(session, "S3", case, n)]
        rc = speedup(session, "S3", case, "rclone --checksum", n)
        sizes = ", ".join(size_text(h) for h in hashed)
        text = f"{case}: hashed [{sizes}]; rclone --checksum/bucketsync {_x(rc)}"
        hit = None if not hashed or rc is None else max(hashed) == 0 and rc >= 10
        out.append(
            Verdict("S3", "0 bytes hashed after the first run; >=10x rclone --checksum", text, hit)
        )
    return out


def _s4(session: Session) -> list[Verdict]:
    out = []
    for case in ("push", "pull"):
        runs = ok_runs(session, "S4", case, BS, None)
        found = [(r.extra.get("found"), r.extra.get("edited")) for r in runs]
        hit = None if not runs else all(f == e for f, e in found)
        out.append(
            Verdict("S4", "finds every same-size edit", f"{case}: found/edited {found}", hit)
        )
    return out


def _s5(session: Session) -> list[Verdict]:
    out = []
    for case in ("push", "pull"):
        s5 = speedup(session, "S5", case, "s5cmd", 1)
        ours, theirs = seconds(session, "S5", case, BS, 1), seconds(session, "S5", case, "s5cmd", 1)
        text = "n/a"
        if ours and theirs:
            mib = ok_runs(session, "S5", case, BS, 1)[0].bytes / 2**20
            text = f"{case}: {mib / ours.median:.0f} vs s5cmd {mib / theirs.median:.0f} MiB/s"
        out.append(Verdict("S5", ">=0.8x s5cmd's MiB/s", text, None if s5 is None else s5 >= 0.8))
    return out


def _s6(session: Session) -> list[Verdict]:
    out = []
    for case, _ in session.cases("S6"):
        runs = [r for r in ok_runs(session, "S6", case, BS, None) if r.run == 0 and r.summary]
        if not runs:
            continue
        s = runs[0].summary or {}
        heads = (s.get("requests") or {}).get("head", 0)
        moved, hashed = s.get("bytes_transferred", 0), s.get("bytes_hashed", 0)
        objects, local = runs[0].files, runs[0].bytes
        text = (
            f"{case}: {size_text(moved)} moved, {heads} HEADs for {objects} objects,"
            f" hashed {hashed / local if local else 0:.2f}x the data"
        )
        hit = moved == 0 and heads <= objects and hashed <= local
        out.append(Verdict("S6", "0 bytes moved, <=1 HEAD per object, hashed once", text, hit))
    return out


def _s7(session: Session) -> list[Verdict]:
    runs = [r for r in session.select("S7", tool="bucketsync Mirror.path") if r.ok]
    if not runs:
        why = next((v for k, v in session.skipped.items() if k.startswith("S7/bucketsync")), "")
        return [
            Verdict(
                "S7", "<=1 request per path(), none within max_age", f"not available: {why}", None
            )
        ]
    per = {r.case: r.extra.get("requests_per_call") for r in runs}
    hit = all((v or 0) <= 1 for v in per.values()) and per.get("max_age=3600", 0) == 0
    return [
        Verdict("S7", "<=1 request per path(), none within max_age", f"requests/call {per}", hit)
    ]


def _s8(session: Session) -> list[Verdict]:
    out = []
    for case in ("push", "pull"):
        runs = sorted(ok_runs(session, "S8", case, BS, None), key=lambda r: r.files)
        if not runs:
            continue
        slope = growth_slope(runs[0].extra, runs[-1].extra) if len(runs) > 1 else None
        per_key = runs[-1].extra.get("bytes_per_key")
        text = (
            f"{case} {runs[-1].files} keys: {per_key} B/key over the pre-sync RSS;"
            f" slope {_n(slope)} B/key"
        )
        value = slope if slope is not None else per_key
        out.append(Verdict("S8", "<300 B per key", text, None if value is None else value < 300))
    return out


def _s9(session: Session) -> list[Verdict]:
    out = []
    for case, _ in session.cases("S9"):
        peers = [t for t in session.tools(session.select("S9", case)) if t != BS]
        timed = [(t, x) for t in peers if (x := speedup(session, "S9", case, t, None))]
        fastest = min(timed, key=lambda p: p[1]) if timed else None
        text = (
            f"{case}: the fastest peer, {fastest[0]}, takes {_x(fastest[1])} bucketsync's time"
            if fastest
            else f"{case}: no peer measured"
        )
        hit = None if fastest is None else fastest[1] > 1
        out.append(Verdict("S9", "faster than every peer at each delay", text, hit))
    return out


def _s10(session: Session) -> list[Verdict]:
    out = []
    for case in ("push", "pull"):
        floor = speedup(session, "S10", case, "floor", None)
        hashed = [s.get("bytes_hashed", 0) for s in summaries(session, "S10", case, None)]
        if floor is None and not hashed:
            continue
        text = (
            f"{case}: the floor takes {_x(floor)} bucketsync's time;"
            f" hashed [{', '.join(size_text(h) for h in hashed)}]"
        )
        hit = None if floor is None or not hashed else floor >= 8 and max(hashed) == 0
        out.append(Verdict("S10", ">=8x faster than the floor; 0 bytes hashed", text, hit))
    return out


def growth_slope(small: dict[str, float], big: dict[str, float]) -> float | None:
    """Extra peak growth per extra key between two key counts."""
    try:
        grow_small = small["peak_kib"] - small["rss_before_kib"]
        grow_big = big["peak_kib"] - big["rss_before_kib"]
        return round((grow_big - grow_small) * 1024 / (big["keys"] - small["keys"]), 1)
    except (KeyError, ZeroDivisionError):
        return None


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _n(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"
