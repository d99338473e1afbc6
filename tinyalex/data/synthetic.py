"""The embedded default data set: ten classes of drawn shapes and textures, as real JPEGs.

``tinyalex train`` with no data argument must work offline on a fresh machine, so this
module draws a deterministic image-classification set in the ImageNet folder layout
(``train/<class>/*.JPEG``, ``val/<class>/*.JPEG``, ``synset_words.txt``) and the whole real
pipeline (decode, rescale, crop, statistics, augmentation) runs on it unchanged.

Each image has its own size (64..160 px a side, rarely square), a two-colour gradient
background with noise, clutter lines behind the object, and one object whose colour, size,
position and rotation are drawn at random. Classes differ in shape or texture only, so a
network must learn form, not colour. Drawing is supersampled (shapes 4x, textures 2x), then
reduced, for antialiased edges.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from tinyalex.data.errors import DataError

VERSION = 1
NAME = f"shapes10-v{VERSION}"
MARKER = "COMPLETE.json"  # written last: a folder without it is an interrupted generation
DEFAULT_TRAIN_PER_CLASS, DEFAULT_VAL_PER_CLASS = 500, 100
MIN_SIDE, MAX_SIDE = 64, 160
SUPERSAMPLE = 4
TEXTURE_SUPERSAMPLE = 2  # textures are computed per sample point in NumPy: 4x fewer points

CLASSES = {
    "checkerboard": "checkerboard, a patch of alternating squares",
    "circle": "circle, a filled disc",
    "cross": "cross, a plus sign",
    "dots": "dots, a patch of regularly spaced dots",
    "hstripes": "horizontal stripes",
    "ring": "ring, an annulus",
    "square": "square, filled",
    "star": "star, five-pointed",
    "triangle": "triangle, equilateral",
    "vstripes": "vertical stripes",
}


def default_root() -> Path:
    """The cache folder ``$TINYALEX_DATA`` or ``~/.cache/tinyalex``, created with its parents when
    missing: tinyalex picks this location itself, so a fresh machine must not trip over it."""
    root = Path(os.environ.get("TINYALEX_DATA") or Path.home() / ".cache" / "tinyalex")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data cache folder {root} ({exc.strerror}); point TINYALEX_DATA "
                        "at a folder you can write to") from None
    return root


def ensure_default_dataset(root: str | os.PathLike | None = None,
                           train_per_class: int = DEFAULT_TRAIN_PER_CLASS,
                           val_per_class: int = DEFAULT_VAL_PER_CLASS, progress: bool = True) -> Path:
    """The folder of the shapes set under ``root`` (default ``default_root()``), generated once.

    Generation goes to a temporary sibling that is renamed into place after the marker file
    is written, so an interrupted run leaves nothing that looks finished.
    """
    if train_per_class < 1 or val_per_class < 1:
        raise ValueError(f"images per class must be at least 1, got {train_per_class} and {val_per_class}")
    root = Path(root) if root is not None else default_root()
    name = NAME
    if (train_per_class, val_per_class) != (DEFAULT_TRAIN_PER_CLASS, DEFAULT_VAL_PER_CLASS):
        name = f"{NAME}-{train_per_class}x{val_per_class}"
    folder = root / name
    if (folder / MARKER).is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        shutil.rmtree(folder)
    tmp = root / f".{name}.{os.getpid()}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    write_dataset(tmp, {"train": train_per_class, "val": val_per_class}, progress)
    try:
        os.rename(tmp, folder)
    except OSError:  # another process finished first
        shutil.rmtree(tmp)
        if not (folder / MARKER).is_file():
            raise
    return folder


def write_dataset(folder: Path, per_class: dict[str, int], progress: bool) -> None:
    """Draw every image into ``folder`` in the ImageNet layout, then write the marker.

    Threads, not processes: JPEG encoding and the larger NumPy steps release the GIL, and
    a process pool would fork (unsafe in a threaded caller) or re-import the caller's script.
    """
    jobs = []
    for split_no, (split, count) in enumerate(per_class.items()):
        for k, cls in enumerate(CLASSES):
            (folder / split / cls).mkdir(parents=True)
            jobs += [(folder, split_no, split, k, cls, i) for i in range(count)]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for _ in tqdm(pool.map(write_image, jobs, chunksize=16), total=len(jobs),
                      desc=f"generating {NAME}", unit="img", disable=not progress):
            pass
    lines = [f"{cls} {desc}\n" for cls, desc in CLASSES.items()]
    (folder / "synset_words.txt").write_text("".join(lines), encoding="utf-8")
    (folder / MARKER).write_text(json.dumps({"name": NAME, "per_class": per_class}) + "\n")


def write_image(job: tuple[Path, int, str, int, str, int]) -> None:
    """Draw image ``i`` of class ``cls`` (index ``k``) of one split and save it as a JPEG."""
    folder, split_no, split, k, cls, i = job
    rng = np.random.default_rng([VERSION, split_no, k, i])
    img, quality = draw_image(cls, rng), int(rng.integers(70, 96))
    img.save(folder / split / cls / f"{cls}_{split}_{i:05d}.JPEG", "JPEG", quality=quality)


def random_colour(rng: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """An RGB colour at least 100 away (Euclidean, 0..255) from ``avoid``."""
    while True:
        colour = rng.uniform(0, 255, size=3)
        if avoid is None or np.linalg.norm(colour - avoid) > 100:
            return colour


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """(h, w, 3) float: a two-colour linear gradient in a random direction."""
    a, b = rng.uniform(0, 255, size=3), rng.uniform(0, 255, size=3)
    b = a + (b - a) * rng.uniform(0.1, 0.5)  # keep the gradient gentle so objects stand out
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:h, 0:w]
    t = (x * np.cos(angle) + y * np.sin(angle)) / max(w, h)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    return a + t[..., None] * (b - a)


def object_frame(rng: np.random.Generator, w: int, h: int) -> tuple[float, float, float, float]:
    """(centre x, centre y, size, rotation) of the object, kept inside the central square."""
    short = min(w, h)
    size = rng.uniform(0.35, 0.7) * short
    room = (short - size) / 2
    cx = w / 2 + rng.uniform(-room, room)
    cy = h / 2 + rng.uniform(-room, room)
    return cx, cy, size, rng.uniform(0, 2 * np.pi)


def polygon(points: np.ndarray, cx: float, cy: float, angle: float) -> list[tuple[float, float]]:
    """Rotate object-frame points by ``angle`` and move them to (cx, cy), supersampled."""
    c, s = np.cos(angle), np.sin(angle)
    xy = points @ np.array([[c, s], [-s, c]]) + (cx, cy)
    return [tuple(p) for p in xy * SUPERSAMPLE]


def regular(n: int, radius: float, start: float = np.pi / 2) -> np.ndarray:
    a = start + np.arange(n) * 2 * np.pi / n
    return radius * np.stack([np.cos(a), -np.sin(a)], axis=1)


def shape_mask(cls: str, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """(h, w) coverage in [0, 1] of a drawn shape, antialiased by supersampling."""
    cx, cy, size, angle = object_frame(rng, w, h)
    r = size / 2
    mask = Image.new("L", (w * SUPERSAMPLE, h * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(mask)
    box = [(cx - r) * SUPERSAMPLE, (cy - r) * SUPERSAMPLE, (cx + r) * SUPERSAMPLE, (cy + r) * SUPERSAMPLE]
    if cls == "circle":
        draw.ellipse(box, fill=255)
    elif cls == "ring":
        draw.ellipse(box, outline=255, width=int(rng.uniform(0.2, 0.4) * r * SUPERSAMPLE))
    elif cls == "square":
        draw.polygon(polygon(regular(4, r, np.pi / 4), cx, cy, angle), fill=255)
    elif cls == "triangle":
        draw.polygon(polygon(regular(3, r * 1.15), cx, cy, angle), fill=255)
    elif cls == "star":
        inner = rng.uniform(0.38, 0.5)
        points = np.concatenate([regular(5, r * 1.1), regular(5, r * 1.1 * inner, np.pi / 2 + np.pi / 5)], axis=1)
        draw.polygon(polygon(points.reshape(10, 2), cx, cy, angle), fill=255)
    elif cls == "cross":
        arm = r * rng.uniform(0.22, 0.35)
        bar = np.array([[-r, -arm], [r, -arm], [r, arm], [-r, arm]])
        draw.polygon(polygon(bar, cx, cy, angle), fill=255)
        draw.polygon(polygon(bar[:, ::-1], cx, cy, angle), fill=255)
    return np.asarray(mask.resize((w, h), Image.Resampling.BOX), dtype=np.float64) / 255


TEXTURES: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "hstripes": lambda u, v, p: np.floor(v / (p / 2)) % 2 == 0,
    "vstripes": lambda u, v, p: np.floor(u / (p / 2)) % 2 == 0,
    "checkerboard": lambda u, v, p: (np.floor(u / p) + np.floor(v / p)) % 2 == 0,
    "dots": lambda u, v, p: (u % p - p / 2) ** 2 + (v % p - p / 2) ** 2 < (0.3 * p) ** 2,
}


def texture_masks(cls: str, rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """(pattern coverage, patch coverage), each (h, w) in [0, 1], of a textured patch.

    Stripes turn by at most 20 degrees so horizontal and vertical stay distinct.
    """
    cx, cy, size, angle = object_frame(rng, w, h)
    if cls in ("hstripes", "vstripes"):
        angle = rng.uniform(-1, 1) * np.pi / 9
    size *= 1.2
    half_w, half_h = size / 2 * rng.uniform(0.8, 1.0), size / 2 * rng.uniform(0.8, 1.0)
    period = rng.uniform(0.18, 0.3) * size if cls != "dots" else rng.uniform(0.2, 0.3) * size
    reach = np.hypot(half_w, half_h)  # work only on the patch's bounding box
    x0, x1 = max(0, int(cx - reach)), min(w, int(np.ceil(cx + reach)))
    y0, y1 = max(0, int(cy - reach)), min(h, int(np.ceil(cy + reach)))
    ss = TEXTURE_SUPERSAMPLE
    y, x = (np.mgrid[y0 * ss:y1 * ss, x0 * ss:x1 * ss].astype(np.float32) + 0.5) / ss
    u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
    v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
    patch = (np.abs(u) < half_w) & (np.abs(v) < half_h)
    pattern = patch & TEXTURES[cls](u + half_w, v + half_h, period)

    def reduce(m: np.ndarray) -> np.ndarray:
        full = np.zeros((h, w))
        full[y0:y1, x0:x1] = m.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))
        return full

    return reduce(pattern), reduce(patch)


def draw_image(cls: str, rng: np.random.Generator) -> Image.Image:
    """One image of class ``cls``, entirely determined by ``rng``."""
    w, h = (int(s) for s in rng.integers(MIN_SIDE, MAX_SIDE + 1, size=2))
    canvas = Image.fromarray(np.clip(background(rng, w, h), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(2, 7)):  # clutter behind the object
        ends = rng.uniform(0, 1, size=4) * (w, h, w, h)
        draw.line(list(ends), fill=tuple(int(c) for c in rng.uniform(0, 255, 3)), width=int(rng.integers(1, 3)))
    img = np.asarray(canvas, dtype=np.float64)
    mean_bg = img.reshape(-1, 3).mean(axis=0)
    fg = random_colour(rng, mean_bg)
    if cls in TEXTURES:
        pattern, patch = texture_masks(cls, rng, w, h)
        if rng.random() < 0.5:  # half the patches have a second colour, the others let the background through
            second = random_colour(rng, fg)
            img = img * (1 - patch)[..., None] + second * patch[..., None]
        img = img * (1 - pattern)[..., None] + fg * pattern[..., None]
    else:
        mask = shape_mask(cls, rng, w, h)
        img = img * (1 - mask)[..., None] + fg * mask[..., None]
    img += rng.normal(0, rng.uniform(2, 12), size=img.shape)
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))
