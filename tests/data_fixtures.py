"""Small image folders for the data tests: every Pillow mode, broken files, both layouts.

Class k's images are a flat grey of level GREYS[k] in whatever mode, so a label can be
checked from the decoded pixels alone.
"""
from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

WNIDS = ["n01440764", "n02100735", "n02119789"]  # sorted: index = position
GREYS = [40, 130, 220]
NAMES = {"n01440764": "tench, Tinca tinca", "n02100735": "English setter", "n02119789": "kit fox, Vulpes macrotis"}
# (file suffix, Pillow mode) of every mode the decoder must turn into RGB.
MODES = [(".JPEG", "RGB"), (".JPEG", "L"), (".JPEG", "CMYK"), (".png", "RGBA"), (".png", "LA"),
         (".png", "P"), (".png", "I;16"), (".png", "1"), (".tif", "F")]

# The devkit's meta.mat in miniature, written by scipy.io.savemat(do_compression=True): a
# 'synsets' struct array whose ILSVRC2012 IDs 1, 2, 3 are n02119789, n02100735, n01440764 (the
# devkit's own order, not sorted) plus a non-leaf synset with ID 4.
META_MAT = base64.b64decode("TUFUTEFCIDUuMCBNQVQtZmlsZSBQbGF0Zm9ybTogcG9zaXgsIENyZWF0ZWQgb246IFRodSBOb3YgMjYgMTY6NTY6MTQgMjAyNgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABSU0PAAAAnAEAAHic7VVdT8IwFC3yISRmEeKDj/0BPGw4HbyRqAkkxgc1+EiaUdbGrTNrCfAP/Nm2smmpM8DmIze5a85dz2lve9taAADYAqAh26b0E7Cxeopr0iupn0rna8ax4PJ/DbTT+If08cPz5Om2Zzu96fhOCbw+btpvW8bJjOuBIIz5VoAtoqlPaDhLMPsKbIFMg2ExJZgGRKQUkSDKpjRCAebAksE++MnHMvKpaK7sTIuDtP9Q49dy+C2t/3mKmd1znIHXH2g6ox06l4aOwm9UwHm86sLJInzHHEbIT2JB+T7zsgw9hXmEwhAGCV4rWVB4fTJT/W2N38jhA61tabyy4xbhX9TL8bPzUKYubNu7uj5AJ28f71kQUk6gPHwCJ7/zydNpGjoKo1ThWAeH8ava+ENQpA4c17W9G1fT2XU/dAwdhQVmPunCF8p8BIX65ueVp9cw9BRGcC7L6ngvHMrP1rd4PUhzPNf+I4999w8zQcV6v3pqG3yFBUECLgn1CcQrykX2IP/HORnt4FcNvv4eZveurldkPp2S/Mw+AW0MZKY=")


def grey_image(mode: str, size: tuple[int, int], level: int) -> Image.Image:
    """A flat image of grey level (0..255) in mode; 16-bit and float modes scaled."""
    w, h = size
    if mode == "I;16":
        return Image.fromarray(np.full((h, w), level * 257, dtype=np.uint16))
    if mode == "F":
        return Image.fromarray(np.full((h, w), level, dtype=np.float32))
    if mode == "1":
        return Image.new("1", size, 1 if level >= 128 else 0)
    rgb = Image.new("RGB", size, (level, level, level))
    if mode == "P":
        return rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    return rgb.convert(mode)


def write_image(path: Path, mode: str, size: tuple[int, int], level: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    grey_image(mode, size, level).save(path)
    return path


def expected_level(mode: str, level: int) -> int:
    """The grey an image of level decodes to (bilevel images are black or white)."""
    return (255 if level >= 128 else 0) if mode == "1" else level


def write_broken(folder: Path) -> list[Path]:
    """A text file, a truncated JPEG and an empty file, all named like images."""
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "not_an_image.JPEG"
    text.write_text("this is not a JPEG\n")
    good = folder / "tmp_whole.JPEG"
    grey_image("RGB", (60, 50), 100).save(good, quality=95)
    truncated = folder / "truncated.JPEG"
    truncated.write_bytes(good.read_bytes()[:300])
    good.unlink()
    empty = folder / "empty.JPEG"
    empty.write_bytes(b"")
    return [text, truncated, empty]


def image_size(rng: np.random.Generator) -> tuple[int, int]:
    w, h = rng.integers(36, 90, size=2)
    return int(w), int(h)


def make_folder_layout(root: Path, train_per_class: int = 4, val_per_class: int = 2, seed: int = 0,
                       all_modes: bool = True, names_file: str | None = "synset_words.txt") -> Path:
    """root/train/<wnid>/*, root/val/<wnid>/*; the first class cycles through every mode."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for k, wnid in enumerate(WNIDS):
            for i in range(count):
                suffix, mode = MODES[i % len(MODES)] if all_modes else MODES[0]
                write_image(root / split / wnid / f"{wnid}_{i}{suffix}", mode, image_size(rng), GREYS[k])
    if names_file:
        (root / names_file).write_text("".join(f"{w} {NAMES[w]}\n" for w in WNIDS))
    return root


def make_flat_val(root: Path, labels: list[str], kind: str, seed: int = 1) -> list[Path]:
    """root/val/ILSVRC2012_val_<i>.JPEG for each wnid in labels, with a label file of kind:
    'loc' (LOC_val_solution.csv) or 'devkit' (ground truth + meta.mat in the devkit folder)."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, wnid in enumerate(labels, start=1):
        path = root / "val" / f"ILSVRC2012_val_{i:08d}.JPEG"
        paths.append(write_image(path, "RGB", image_size(rng), GREYS[WNIDS.index(wnid)]))
    if kind == "loc":
        rows = [f"ILSVRC2012_val_{i:08d},{w} 1 2 30 40 {w} 5 6 20 25\n" for i, w in enumerate(labels, start=1)]
        (root / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "".join(rows))
    else:
        devkit = root / "ILSVRC2012_devkit_t12" / "data"
        devkit.mkdir(parents=True)
        ids = {"n02119789": 1, "n02100735": 2, "n01440764": 3}
        (devkit / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{ids[w]}\n" for w in labels))
        (devkit / "meta.mat").write_bytes(META_MAT)
    return paths


def uncompressed_mat(data: bytes) -> bytes:
    """The same MAT-file with its compressed element stored plainly (a level-5 file may do either)."""
    kind, size = struct.unpack_from("<II", data, 128)
    assert kind == 15, "expected one compressed element after the header"
    element = zlib.decompress(data[136:136 + size])
    return data[:128] + element + b"\0" * (-len(element) % 8)


class ArrayDataset:
    """An in-memory data set with the loader's interface (size, mean, eigvals, eigvecs, load_batch)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: np.ndarray | None = None) -> None:
        self.images, self.labels = images, labels
        self.size = images.shape[1]
        self.mean = np.zeros(images.shape[1:]) if mean is None else mean
        self.eigvals = np.array([900.0, 100.0, 10.0])
        self.eigvecs = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]

    def __len__(self) -> int:
        return len(self.labels)

    def load_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.images[indices], self.labels[indices]
