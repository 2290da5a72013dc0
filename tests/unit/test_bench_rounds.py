"""`benchmarks/rounds.py` sums up benchmark lines per figure and side (the script's runs
themselves need Dovecot and minutes: they are measured, not tested)."""

from __future__ import annotations

import pytest

from benchmarks.rounds import FIGURES, figure_of, main, summarize


def _poll(db: str, ratio: float, seconds: float, floor: float, side: str = "B") -> dict[str, object]:
    return {"db": db, "mails": 1000, "ratio_to_floor": ratio, "command_seconds": seconds,
            "floor_mails_per_second": floor, "side": side}


def _daemons(setup: str, ratio: float, seconds: float, floor: float, side: str = "B") -> dict[str, object]:
    return {"setup": setup, "mails": 1000, "ratio_to_floor": ratio, "seconds_from_start": seconds,
            "floor_mails_per_second": floor, "side": side}


def test_each_line_is_its_figure() -> None:
    assert figure_of(_poll("sqlite", 0.5, 4, 500)) == "poll-sqlite"
    assert figure_of(_poll("postgresql", 0.4, 5, 500)) == "poll-postgresql"
    assert figure_of(_daemons("redis-pg", 0.3, 6, 500)) == "redis-pg"
    assert {figure_of(_daemons("embedded", 0.4, 5, 500))} <= set(FIGURES)


def test_medians_spread_and_the_pooled_ratio_per_figure_and_side() -> None:
    lines = [_poll("sqlite", r, s, f) for r, s, f in ((0.45, 4.4, 450), (0.6, 4.0, 600), (0.5, 4.2, 525))]
    lines += [_poll("sqlite", 0.4, 5.0, 500, side="A")]
    lines += [_daemons("redis-pg", r, s, 500) for r, s in ((0.3, 6.0), (0.35, 5.8))]
    summary = summarize(lines)
    b = summary["poll-sqlite"]["B"]
    assert (b["median"], b["low"], b["high"], b["runs"]) == (0.5, 0.45, 0.6, 3)
    assert (b["seconds"], b["floor"]) == (4.2, 525.0)
    assert b["pooled"] == round(1000 / 4.2 / 525, 3)  # the median floor against the median seconds
    assert summary["poll-sqlite"]["A"]["runs"] == 1
    assert summary["redis-pg"]["B"]["median"] == pytest.approx(0.325)
    assert summary["redis-pg"]["B"]["seconds"] == 5.9


def test_an_unknown_figure_is_one_line_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--figures", "poll-sqlite,poll-mysql"])
    assert stopped.value.code == 2
    assert "--figures: unknown poll-mysql" in capsys.readouterr().err
