"""`benchmarks/score_classify.py` prints the figures on the part of the labelled data that
neither rules nor model were tuned on (the model it scores is fitted on the tuning part)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.shared import need_shared

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "score_classify.py"


def test_held_out_figures_are_printed() -> None:
    samples, train = need_shared("samples", "labels.json").parent, need_shared("triage-train", "labels.json").parent
    done = subprocess.run([sys.executable, str(SCRIPT), str(samples), str(train), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr  # 1: private recall below 1 or PII left: a figure, not a crash
    figures = json.loads(done.stdout)
    overall = figures["overall"]
    assert 60 <= overall["messages"] <= 80  # about 27% of the 260 labelled messages
    assert overall["pii_left"] == 0
    assert overall["category_accuracy"] >= 0.8 and overall["private_precision"] >= 0.9
    assert set(figures["by_channel"]) == {"email", "sms", "voice"}
