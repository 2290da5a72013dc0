"""intake/ and workers/ stay mypy-clean (STYLE: full type hints, mypy clean on intake/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_mypy_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "intake", "workers", "--ignore-missing-imports"],
                          cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
