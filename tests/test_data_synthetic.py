"""The embedded shapes set: layout, variety, determinism, caching and regeneration."""
from __future__ import annotations

import numpy as np
from PIL import Image

from tinyalex.data import FolderDataset, ensure_default_dataset, find_split, read_class_names
from tinyalex.data.synthetic import CLASSES, MARKER, MAX_SIDE, MIN_SIDE, NAME, default_root


def small(root):
    return ensure_default_dataset(root, train_per_class=3, val_per_class=1, progress=False)


def test_layout_classes_names_and_image_sizes(tmp_path):
    folder = small(tmp_path)
    assert folder.parent == tmp_path and folder.name.startswith(NAME) and (folder / MARKER).is_file()
    train, val = find_split(folder, "train"), find_split(folder, "val")
    assert len(CLASSES) >= 10 and len(train) == 3 * len(CLASSES) and len(val) == len(CLASSES)
    assert sorted({w for _, w in train}) == sorted(CLASSES)
    assert read_class_names(folder, ["star"])["star"].startswith("star")
    sizes = []
    for path, _ in train:
        assert path.suffix == ".JPEG"
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.mode == "RGB"
            sizes.append(img.size)
    assert all(MIN_SIDE <= s <= MAX_SIDE for size in sizes for s in size)
    assert sum(w != h for w, h in sizes) > len(sizes) // 2


def test_generation_is_deterministic(tmp_path):
    a, b = small(tmp_path / "a"), small(tmp_path / "b")
    files = sorted(p.relative_to(a) for p in a.rglob("*.JPEG"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.JPEG"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_images_vary_in_colour_and_content(tmp_path):
    # Colour is drawn at random, so it cannot give the class away; no two images are the same.
    folder = small(tmp_path)
    ds = FolderDataset(folder, "train", size=32)
    images = np.stack([ds[i][0] for i in range(len(ds))]).astype(np.float64)
    flat = images.reshape(len(images), -1)
    assert len({row.tobytes() for row in flat}) == len(flat)
    colours = images.mean(axis=(1, 2))
    assert colours.std(axis=0).min() > 10


def test_cached_folder_is_reused_and_an_unfinished_one_regenerated(tmp_path):
    folder = small(tmp_path)
    some = next(folder.rglob("*.JPEG"))
    stamp = some.stat().st_mtime_ns
    assert small(tmp_path) == folder and some.stat().st_mtime_ns == stamp
    (folder / MARKER).unlink()
    some.write_bytes(b"half-written")
    assert small(tmp_path) == folder and (folder / MARKER).is_file()
    assert some.read_bytes()[:2] == b"\xff\xd8"  # a JPEG again
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_default_location_follows_tinyalex_data(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYALEX_DATA", str(tmp_path / "cache"))
    assert default_root() == tmp_path / "cache"
    assert small(None).parent == tmp_path / "cache"
