"""The file backend's batch write: every file durable before it takes its name, a file
already there left alone, one failure costing only its own file, nothing half-written
left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from intake.channels import local
from intake.channels.local import StagedFiles, atomic_write_many
from intake.channels.wire import Wire


def test_a_batch_is_written_whole_and_private(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    files = [(f"outbox-{i}.eml", f"Subject: {i}\r\n\r\n".encode() * (i + 1)) for i in range(300)]
    assert atomic_write_many(outbox, files) == [True] * 300
    for name, data in files:
        path = outbox / name
        assert path.read_bytes() == data and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(outbox)) == sorted(name for name, _ in files)  # no temporaries


def test_a_file_already_there_is_left_alone_and_a_name_twice_is_written_once(tmp_path: Path) -> None:
    (tmp_path / "outbox-1.eml").write_bytes(b"first")
    results = atomic_write_many(tmp_path, [("outbox-1.eml", b"second"), ("outbox-2.eml", b"a"),
                                           ("outbox-2.eml", b"b"), ("outbox-3.eml", b"")])
    assert results == [False, True, False, True]
    assert (tmp_path / "outbox-1.eml").read_bytes() == b"first" and (tmp_path / "outbox-2.eml").read_bytes() == b"a"
    assert sorted(os.listdir(tmp_path)) == ["outbox-1.eml", "outbox-2.eml", "outbox-3.eml"]


def test_one_failed_flush_costs_only_its_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.fsync

    def flaky(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith(".outbox-5.eml."):
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(local.os, "fsync", flaky)
    results = atomic_write_many(tmp_path, [(f"outbox-{i}.eml", b"x" * 4096) for i in range(10)])
    assert isinstance(results[5], OSError) and results[:5] + results[6:] == [True] * 9
    assert "outbox-5.eml" not in os.listdir(tmp_path) and len(os.listdir(tmp_path)) == 9


def test_a_large_follow_up_is_written_whole(tmp_path: Path) -> None:
    data = os.urandom(1 << 20) * 9  # larger than one write() may take
    assert atomic_write_many(tmp_path, [("outbox-1.eml", data)]) == [True]
    assert (tmp_path / "outbox-1.eml").read_bytes() == data


def test_staged_files_report_an_outbox_folder_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_bytes(b"a file where the folder should be")
    staged = StagedFiles(blocker)
    assert staged.send(Wire("a@example.test", "b@example.com", b"Subject: a\r\n\r\n"), 1) == "file:outbox-1.eml"
    staged.send(Wire("a@example.test", "b@example.com", b"Subject: b\r\n\r\n"), 2)
    failed = staged.commit()
    assert set(failed) == {1, 2} and all(isinstance(e, OSError) for e in failed.values())
