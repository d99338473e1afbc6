"""Find the images of a split and their labels in the two layouts people have on disk.

* Folder layout (ImageNet train, Imagenette, the embedded shapes set): ``SRC/<split>/<wnid>/*``.
* Raw ILSVRC-2012 validation: ``SRC/val/*.JPEG`` in one flat folder, labels from
  ``LOC_val_solution.csv`` (Kaggle) or the devkit's ``ILSVRC2012_validation_ground_truth.txt``,
  whose ILSVRC2012 IDs 1..1000 are mapped to wnids through the devkit's ``meta.mat``.

Label and class-name files are looked for in the split folder, in SRC, in the devkit folders
under SRC and, when SRC is Kaggle's ``<root>/ILSVRC/Data/CLS-LOC``, in ``<root>`` where Kaggle
keeps them. ``meta.mat`` is read only from beside the ground-truth file, as in the devkit.
"""
from __future__ import annotations

import csv
import errno
import os
import stat
from pathlib import Path

from tinyalex.data.class_names import display_names
from tinyalex.data.errors import DataError
from tinyalex.data.matfile import read_devkit_synsets

LOC_SOLUTION = "LOC_val_solution.csv"
DEVKIT_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
DEVKIT_META = "meta.mat"
CLASS_NAME_FILES = ("synset_words.txt", "LOC_synset_mapping.txt")
KAGGLE_TAIL = ("ILSVRC", "Data", "CLS-LOC")

# One (path, reason) per file that a split holds but that cannot become a labelled image.
Skipped = list[tuple[str, str]]


def search_dirs(src: Path, split: str | None = None) -> list[Path]:
    """Folders where label and class-name files may lie, nearest first."""
    dirs = [src / split] if split else []
    dirs += [src, src / "ILSVRC2012_devkit_t12" / "data", src / "ILSVRC2012_devkit_t12"]
    if src.resolve().parts[-3:] == KAGGLE_TAIL:
        dirs.append(src.resolve().parents[2])
    return dirs


def find_file(src: Path, names: tuple[str, ...], split: str | None = None) -> Path | None:
    """The first existing file named one of ``names`` in the search folders."""
    for folder in search_dirs(src, split):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def visible_entries(folder: Path) -> list[Path]:
    """Sorted entries of a folder, hidden ones (``.DS_Store``, ``._x``) left out."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def unusable(path: Path) -> str | None:
    """Why ``path`` (in a folder of images) cannot be read as an image file; None for a regular file."""
    try:
        mode = path.stat().st_mode  # follows symbolic links
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if path.is_symlink():
            return f"broken symbolic link (to {os.readlink(path)})"
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return "a folder inside a class folder (class folders are not searched recursively)"
    return None if stat.S_ISREG(mode) else "not a regular file"


def has_split(src: str | Path, split: str) -> bool:
    return (Path(src) / split).is_dir()


def find_split(src: str | Path, split: str, skipped: Skipped | None = None) -> list[tuple[Path, str]]:
    """All (path, wnid) of ``SRC/<split>`` sorted by wnid then path, in either layout.

    Entries that cannot become a labelled image (loose files beside class folders, flat-folder
    files missing from the label file, symbolic link loops, broken links, sub-folders) are
    appended to ``skipped`` with the reason when given. Raises DataError when the
    split folder is missing, a class folder is empty, or a flat folder has no label file.
    """
    folder = Path(src) / split
    if not folder.is_dir():
        raise DataError(f"no '{split}' folder in {src}: expected {folder}/<wnid>/*.JPEG "
                        f"or a flat {folder}/ with a label file")
    entries = visible_entries(folder)
    if any(p.is_dir() for p in entries):
        return _class_folders(folder, entries, skipped)
    return _flat_folder(Path(src), split, entries, skipped)


def _class_folders(folder: Path, entries: list[Path], skipped: Skipped | None) -> list[tuple[Path, str]]:
    skipped = skipped if skipped is not None else []
    items, empty = [], []
    for entry in entries:
        if not entry.is_dir():
            reason = unusable(entry)
            skipped.append((str(entry), "not inside a class folder" if reason is None else reason))
            continue
        files = []
        for path in visible_entries(entry):
            reason = unusable(path)
            if reason is None:
                files.append(path)
            else:
                skipped.append((str(path), reason))
        if not files:
            empty.append(entry.name)
        items += [(p, entry.name) for p in files]
    if empty:
        raise DataError(f"empty class folder(s) in {folder}: {', '.join(empty)}; "
                        "every class folder needs at least one image")
    return items


def _flat_folder(src: Path, split: str, entries: list[Path], skipped: Skipped | None) -> list[tuple[Path, str]]:
    reasons = {p: unusable(p) for p in entries}
    files = [p for p, reason in reasons.items() if reason is None]
    if skipped is not None:
        skipped += [(str(p), reason) for p, reason in reasons.items() if reason is not None]
    if not files:
        raise DataError(f"{src / split} holds no images and no class folders")
    labels = read_flat_labels(src, split)
    items = []
    for path in files:
        wnid = labels.get(path.stem)
        if wnid is None:
            if skipped is not None:
                skipped.append((str(path), "no label for this file in the label file"))
        else:
            items.append((path, wnid))
    return sorted(items, key=lambda item: (item[1], str(item[0])))


def read_flat_labels(src: Path, split: str) -> dict[str, str]:
    """Map file stem -> wnid for a flat split folder, from whichever label file is found."""
    solution = find_file(src, (LOC_SOLUTION,), split)
    if solution is not None:
        return read_loc_solution(solution)
    ground_truth = find_file(src, (DEVKIT_GROUND_TRUTH,), split)
    if ground_truth is not None:
        meta = ground_truth.parent / DEVKIT_META
        if not meta.is_file():
            raise DataError(f"{ground_truth} gives ILSVRC2012 IDs; the devkit's {DEVKIT_META} is "
                            f"needed beside it to map them to wnids")
        return read_devkit_ground_truth(ground_truth, read_devkit_synsets(meta))
    raise DataError(f"{src / split} is a flat folder of images but no label file was found: "
                    f"expected {LOC_SOLUTION} or {DEVKIT_GROUND_TRUTH} (+ {DEVKIT_META}) in "
                    f"{src} or its devkit folder, or class sub-folders <wnid>/")


def read_loc_solution(path: Path) -> dict[str, str]:
    """Kaggle's ``ImageId,PredictionString`` CSV: the first word of each prediction is the wnid."""
    labels = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["ImageId", "PredictionString"]:
            raise DataError(f"{path}: expected the header 'ImageId,PredictionString', got {header}")
        for line_no, row in enumerate(reader, start=2):
            if len(row) < 2 or not row[1].split():
                raise DataError(f"{path} line {line_no}: expected 'ImageId,wnid ...', got {row}")
            labels[row[0].strip()] = row[1].split()[0]
    return labels


def read_devkit_ground_truth(path: Path, id_to_wnid: dict[int, str]) -> dict[str, str]:
    """Line i of the devkit file is the ILSVRC2012 ID of ``ILSVRC2012_val_<i:08d>``."""
    labels = {}
    with open(path) as f:
        for line_no, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            if not text.isdigit() or int(text) not in id_to_wnid:
                raise DataError(f"{path} line {line_no}: expected an ILSVRC2012 ID "
                                f"1..{len(id_to_wnid)}, got {text!r}")
            labels[f"ILSVRC2012_val_{line_no:08d}"] = id_to_wnid[int(text)]
    return labels


def read_class_names(src: str | Path, wnids: list[str]) -> dict[str, str]:
    """wnid -> human name from ``synset_words.txt`` / ``LOC_synset_mapping.txt`` beside the data, else
    from the ILSVRC-2012 table shipped with tinyalex (``class_names``), else the wnid itself."""
    names = {w: w for w in wnids}
    path = find_file(Path(src), CLASS_NAME_FILES)
    if path is not None:
        with open(path, encoding="utf-8") as f:
            for line in f:
                wnid, _, name = line.strip().partition(" ")
                if wnid in names and name.strip():
                    names[wnid] = name.strip()
    return dict(zip(wnids, display_names(wnids, [names[w] for w in wnids])))
