"""Absent shared test data skips a test on a laptop and fails it under CI (tests/support/shared.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import shared


@pytest.fixture
def no_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(shared, "SHARED_DIR", tmp_path / "shared")
    return tmp_path / "shared"


def test_absent_data_skips_outside_ci(no_shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="shared test data .* is absent"):
        shared.need_shared("samples")


def test_absent_data_fails_under_ci(no_shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        shared.need_shared("samples", "labels.json")


def test_an_empty_folder_counts_as_absent(no_shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    (no_shared / "corpus").mkdir(parents=True)
    with pytest.raises(pytest.fail.Exception):
        shared.need_shared("corpus")
    (no_shared / "corpus" / "a.eml").write_text("x")
    assert shared.need_shared("corpus", "a.eml") == no_shared / "corpus" / "a.eml"
