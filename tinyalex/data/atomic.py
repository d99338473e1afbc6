"""Write files so that a crash never leaves a half-written file under the final name.

Each file is written to a hidden sibling ``.<name>.<pid>.tmp`` and renamed over the final name
once complete. A write that fails (a full disk, say) removes its temporary file; one killed
outright (SIGKILL, power loss) leaves it behind, and ``remove_stale`` clears such leftovers of
processes that no longer run. ``append_text`` adds to a log: all of the text, or (a full disk)
nothing.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

TEMP_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")


def temp_path(path: Path) -> Path:
    """A sibling name for the file being written (same folder, so rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def replace(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk and move it over ``path`` in one step."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def writing(path: Path) -> Iterator[Path]:
    """The temporary path to write ``path``'s new content to: moved over ``path`` when the block
    ends normally, deleted when it raises (so a failed write leaves no large leftover behind)."""
    tmp = temp_path(path)
    try:
        yield tmp
        replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    with writing(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, ensure_ascii=False)
        f.write("\n")


def write_npy(path: Path, array: np.ndarray) -> None:
    with writing(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    with writing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def append_text(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` (created if missing), or raise OSError leaving the file as it was.

    On a full disk a write can stop part way (the last block's free bytes take the start of a line),
    so a failed append cuts the file back to its size before it, and removes a file it created."""
    data = memoryview(text.encode("utf-8"))
    existed = path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        try:
            while data:
                data = data[os.write(fd, data):]
        except BaseException:
            os.ftruncate(fd, size)
            if not existed:
                path.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)


def process_running(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path) -> list[Path]:
    """Delete the temporary files in ``folder`` left by writers that were killed mid-write
    (their process is gone); returns what was deleted."""
    removed = []
    for entry in Path(folder).glob(".*.tmp"):
        match = TEMP_NAME.match(entry.name)
        if match and entry.is_file() and not process_running(int(match.group(1))):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
