"""`python -m bucketsync`: the command line, as the `bucketsync` script runs it."""

import sys

from .cli import main

sys.exit(main())
