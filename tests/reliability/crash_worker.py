"""A `bucketsync` process to be killed: it imports everything, prints "ready", waits for a
line on stdin, then runs the command line given as its arguments.

Transfers above 2 MiB use the multipart and ranged paths (1 MiB parts, or as many MiB
as $PART_MIB says: LocalStack wants 5), so small test files exercise them; the parent
kills the process at a random moment after "go".
"""

from __future__ import annotations

import os
import sys

MIB = 1024 * 1024


def main() -> int:
    import bucketsync.cli
    import bucketsync.transfer

    bucketsync.transfer.MULTIPART_THRESHOLD = 2 * MIB
    bucketsync.transfer.PART_SIZE = int(os.environ.get("PART_MIB", "1")) * MIB
    print("ready", flush=True)
    sys.stdin.readline()
    return bucketsync.cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
