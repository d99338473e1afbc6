"""How experiments write results: figures (matplotlib's object-oriented API: no pyplot state, no
display needed) and text files, atomically (temporary file, then rename)."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from PIL import Image

from tinyalex.data import atomic


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches that is not registered with pyplot (so never leaks)."""
    return Figure(figsize=(width, height), layout="constrained")


def save_png(fig: Figure, path: str | os.PathLike, dpi: int = 100, colors: int | None = None) -> Path:
    """Write ``fig`` to ``path`` as PNG; returns the path. With ``colors`` the image is reduced to a
    palette of that many colours first: photos in a grid then take about a fifth of the bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.writing(path) as tmp, open(tmp, "wb") as f:  # interrupted or failed: no temporary file left
        if colors is None:
            fig.savefig(f, format="png", dpi=dpi)
        else:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=dpi)
            with Image.open(buffer) as image:
                image.convert("RGB").quantize(colors, dither=Image.Dither.NONE).save(f, format="PNG")
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    with atomic.writing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
