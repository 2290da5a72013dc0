"""The shared test data folder: real-world corpora and labelled samples kept outside this
repository, in ../shared next to the checkout (INTAKE_SHARED_DIR overrides).

Every test that reads it gets its paths from `need_shared`, the one place that decides what
absence means: the test is skipped, naming the path, on a machine without the folder, and
fails under CI (CI=true), so CI cannot go green by skipping every corpus test.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.ci import unavailable

SHARED_DIR = Path(os.environ.get("INTAKE_SHARED_DIR")
                  or Path(__file__).resolve().parents[2].parent / "shared")


def need_shared(*parts: str) -> Path:
    """SHARED_DIR/parts, which must exist (a folder must not be empty); skip or fail if not."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        unavailable(f"shared test data {path} is absent (expected ../shared next to the "
                    "checkout, or set INTAKE_SHARED_DIR)")
    return path
