"""Senders that stay on this machine: the file backend (one .eml per follow-up in the
outbox folder, the embedded default) and the console backend (stderr)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from intake.channels.wire import Wire


def atomic_write_once(directory: Path, name: str, data: bytes) -> bool:
    """Write `data` to directory/name via a temporary file, made durable, and a link to its
    name; a file already there is left alone (the same follow-up written twice is one file).
    Returns True when this call wrote it; raises the OSError that stopped it."""
    result = atomic_write_many(directory, [(name, data)])[0]
    if isinstance(result, OSError):
        raise result
    return result


def atomic_write_many(directory: Path, files: list[tuple[str, bytes]]) -> list[bool | OSError]:
    """Files written as `atomic_write_once` writes one (mode 0600 from mkstemp, durable
    before it takes its name), the fsyncs of a batch running side by side: the
    filesystem's journal commits concurrent fsyncs together, where one after another each
    waited for its own flush of the disk (0.6 ms a file here, most of a follow-up's cost on
    the embedded default). One result per file: True written, False already there, or the
    OSError that stopped it."""
    from concurrent.futures import ThreadPoolExecutor

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    results: list[bool | OSError] = [False] * len(files)
    staged: list[tuple[int, int, str]] = []  # (index, descriptor, temporary path)
    for index, (name, data) in enumerate(files):
        if (directory / name).exists():
            continue
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            results[index] = exc
            continue
        staged.append((index, fd, tmp))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            results[index] = exc

    def flush(item: tuple[int, int, str]) -> OSError | None:
        try:
            os.fsync(item[1])
            return None
        except OSError as exc:
            return exc

    if len(staged) > 1:
        with ThreadPoolExecutor(max_workers=min(16, len(staged))) as pool:
            flushed = list(pool.map(flush, staged))
    else:
        flushed = [flush(item) for item in staged]
    for (index, fd, tmp), error in zip(staged, flushed):
        os.close(fd)
        try:
            if results[index] is not False:
                continue  # its write failed: the error is its result
            if error is not None:
                results[index] = error
                continue
            os.link(tmp, directory / files[index][0])  # fails if the target appeared meanwhile
            results[index] = True
        except FileExistsError:
            pass
        except OSError as exc:
            results[index] = exc
        finally:
            os.unlink(tmp)
    return results


def _eml(outbox_id: int) -> str:
    return f"outbox-{outbox_id}.eml"


class FileEmailSender:
    """One complete .eml per follow-up in the outbox folder, named by outbox id."""

    # The same follow-up written twice is one file (atomic_write_once): a crash between
    # the write and its record resends nothing, so a batch may record its sends together.
    idempotent = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: Wire, outbox_id: int) -> str:
        atomic_write_once(self.directory, _eml(outbox_id), message.data)
        return f"file:{_eml(outbox_id)}"

    def staged(self) -> StagedFiles:
        return StagedFiles(self.directory)


class StagedFiles:
    """A batch's follow-ups for the file backend: `send` takes each, `commit` writes them
    all (atomic_write_many) and returns those that could not be written."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: list[tuple[int, str, bytes]] = []

    def send(self, message: Wire, outbox_id: int) -> str:
        self.files.append((outbox_id, _eml(outbox_id), message.data))
        return f"file:{_eml(outbox_id)}"

    def commit(self) -> dict[int, OSError]:
        try:
            results = atomic_write_many(self.directory, [(name, data) for _, name, data in self.files])
        except OSError as exc:  # the outbox folder itself cannot be made
            return {outbox_id: exc for outbox_id, _, _ in self.files}
        return {outbox_id: r for (outbox_id, _, _), r in zip(self.files, results) if isinstance(r, OSError)}


class ConsoleEmailSender:
    """The message on stderr (stdout carries the CLI's JSON lines)."""

    def send(self, message: Wire, outbox_id: int) -> str:
        sys.stderr.write(f"--- outbox {outbox_id} (email) ---\n")
        sys.stderr.write(message.data.decode("utf-8", "replace"))
        sys.stderr.write("\n--- end ---\n")
        sys.stderr.flush()
        return f"console:{outbox_id}"
