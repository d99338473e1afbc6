"""Write files so that a crash never leaves a half-written file under the final name."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def temp_path(path: Path) -> Path:
    """A sibling name for the file being written (same folder, so rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def replace(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk and move it over ``path`` in one step."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, value: Any) -> None:
    tmp = temp_path(path)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, ensure_ascii=False)
        f.write("\n")
    replace(tmp, path)


def write_npy(path: Path, array: np.ndarray) -> None:
    tmp = temp_path(path)
    with open(tmp, "wb") as f:
        np.save(f, array)
    replace(tmp, path)


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    tmp = temp_path(path)
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    replace(tmp, path)
