"""`python -m intake.cli` (how `intake run` starts its children)."""

import sys

from intake.cli import command

sys.exit(command())
