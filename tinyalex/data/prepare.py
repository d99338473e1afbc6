"""``prepare``: turn an ImageNet-like folder into a reduced, decoded, memory-mappable subset.

Output folder (everything written atomically; ``meta.json`` last, so its presence means done):

* ``<split>_images.npy``  (N, size, size, 3) uint8, open with ``np.load(..., mmap_mode="r")``
* ``<split>_labels.npy``  (N,) int64 class indices into ``meta.json["wnids"]`` (sorted wnids)
* ``<split>_paths.json``  source path of each image, relative to ``meta.json["src"]``
* ``mean.npy``            (size, size, 3) float64 per-pixel mean of the training images
* ``pca.npz``             ``cov`` (3, 3), ``eigvals`` (3,) descending, ``eigvecs`` (3, 3) columns,
                          float64, of the training pixels' RGB values on the 0..255 scale
* ``classes.json``        wnid -> class name, which people may edit (``PreparedDataset`` reads it)
* ``meta.json``           wnids, class names, size, counts, skipped files, input fingerprint

While it runs, ``*.partial`` files hold the decoded images and a per-image status, so an
interrupted or failed run resumes where it stopped (``state.json.partial`` records the command that
finishes it); a re-run on unchanged inputs does nothing. Disk space for each memory map is reserved
before any image is decoded into it, so a full disk is an error message, not a "Bus error".
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinyalex.data import atomic
from tinyalex.data.decode import load_rgb_square
from tinyalex.data.errors import BadImageError, DataError
from tinyalex.data.class_names import display_names
from tinyalex.data.layouts import find_split, has_split, read_class_names
from tinyalex.data.space import DISK_FULL, DiskFullError, check_free, reserve
from tinyalex.data.stats import image_statistics, principal_components

FORMAT = "tinyalex-prepared-v1"
CHUNK = 256  # images decoded between two checkpoints of the resume state
PENDING, DONE, BAD = 0, 1, 2


@dataclass
class PrepareReport:
    """What ``prepare`` did: images kept per split, files skipped (path, reason), whether the
    output was already complete for these inputs (a no-op), and notes on what was asked (Plan)."""

    out: Path
    counts: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    reused: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        kept = ", ".join(f"{n} {split}" for split, n in self.counts.items())
        lines = [f"{'already prepared' if self.reused else 'prepared'} {kept} images in {self.out}"]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass
class Plan:
    """The images chosen for each split, their labels, the class list, per split the entries
    that cannot become labelled images (path, reason), and notes for the user (no val/, a cap
    above what some classes have)."""

    src: Path
    wnids: list[str]
    items: dict[str, list[tuple[Path, int]]]
    listing_skips: dict[str, list[tuple[str, str]]]
    notes: list[str] = field(default_factory=list)


def prepare(src: str | os.PathLike, out: str | os.PathLike, classes: int | list[str] | None = None,
            seed: int = 0, train_per_class: int | None = None, val_per_class: int | None = None,
            size: int = 256, workers: int | None = None, progress: bool = True) -> PrepareReport:
    """Decode SRC's train (and val, if present) split into ``out``; see the module docstring.

    ``classes`` is a count (chosen at random with ``seed``) or a list of wnids; ``*_per_class``
    caps the images per class (a random subset with ``seed``); None means everything.
    Raises DataError, before any decoding and without creating ``out``, for unusable inputs or
    output folders; and DataError when the disk fills up, keeping everything decoded so far.
    """
    if size < 1:
        raise DataError(f"size must be a positive number of pixels, got {size}")
    if workers is not None and workers < 1:
        raise DataError(f"workers must be at least 1, got {workers}")
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataError(f"source folder {src} does not exist or is not a folder")
    check_output_folder(out)
    plan = make_plan(src, classes, seed, {"train": train_per_class, "val": val_per_class})
    fingerprint = fingerprint_of(plan, size)
    done = read_meta(out)
    if done is not None:
        if done.get("fingerprint") == fingerprint:
            skipped = [(s["path"], s["reason"]) for s in done["skipped"]]
            return PrepareReport(out, done["counts"], skipped, reused=True, notes=plan.notes)
        raise DataError(f"{out} already holds a prepared set built from other inputs or options; "
                        "choose another --out folder or delete that one first")
    create_output_folder(out)
    atomic.remove_stale(out)
    command = command_line(src, out, classes, seed, train_per_class, val_per_class, size)
    try:
        return build(plan, out, size, workers, progress, start_state(out, fingerprint, command), fingerprint, seed)
    except DiskFullError as exc:
        raise DataError(f"{exc}. {kept_so_far(command)}") from None
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        raise DataError(f"the disk holding {out} is full ({exc.strerror}). {kept_so_far(command)}") from None


def kept_so_far(command: str) -> str:
    return f"Free some space, then run the same command again; it resumes with everything done so far: {command}"


def build(plan: Plan, out: Path, size: int, workers: int | None, progress: bool, state: dict,
          fingerprint: str, seed: int) -> PrepareReport:
    """Decode every split (resuming from ``state``), compute the statistics, write the final files."""
    skipped: list[tuple[str, str, str]] = []  # (path, reason, split)
    counts = {}
    pending = [(split, items) for split, items in plan.items.items() if split not in state["finished"] and items]
    partial = [out / f"{split}_images.npy.partial" for split, _ in pending]
    held = sum(path.stat().st_blocks * 512 for path in partial if path.exists())  # decoded before a stop
    needed = sum(len(items) * (size * size * 3 + 1) for _, items in pending) - held  # images and their status
    check_free(out, needed, f"the {' and '.join(split for split, _ in pending)} images at {size}x{size}")
    for split, items in plan.items.items():
        bad = decode_split(out, split, items, size, workers, progress, state)
        skipped += [(path, reason, split) for path, reason in plan.listing_skips[split]]
        skipped += [(str(items[i][0]), reason, split) for i, reason in sorted(bad.items())]
        counts[split] = finish_split(out, split, plan, bad, size, state)
    if counts["train"] == 0:
        raise DataError(f"no training image of {plan.src} could be decoded; see the skipped files")
    seen = np.bincount(np.load(out / "train_labels.npy"), minlength=len(plan.wnids))
    unseen = [w for w, n in zip(plan.wnids, seen) if n == 0]
    if unseen:  # a classifier would be built for a class it never sees
        theirs = [f"{path} ({reason})" for path, reason, split in skipped
                  if split == "train" and Path(path).parent.name in unseen]
        shown = "; ".join(theirs[:5]) + (f"; and {len(theirs) - 5} more" if len(theirs) > 5 else "")
        raise DataError(f"no training image of class(es) {', '.join(unseen)} could be decoded ({shown}); "
                        "mend or remove those folders, or leave the classes out with --classes, and run again")
    train = np.load(out / "train_images.npy", mmap_mode="r")
    mean, cov = image_statistics(train, progress=progress)
    eigvals, eigvecs = principal_components(cov)
    atomic.write_npy(out / "mean.npy", mean)
    atomic.write_npz(out / "pca.npz", cov=cov, eigvals=eigvals, eigvecs=eigvecs)
    names = read_class_names(plan.src, plan.wnids)
    atomic.write_json(out / "classes.json", names)
    atomic.write_json(out / "meta.json", {
        "format": FORMAT, "fingerprint": fingerprint, "src": str(plan.src.resolve()), "size": size,
        "wnids": plan.wnids, "class_names": [names[w] for w in plan.wnids], "counts": counts,
        "seed": seed, "skipped": [{"path": p, "reason": r, "split": s} for p, r, s in skipped],
    })
    for leftover in out.glob("*.partial"):
        leftover.unlink()
    return PrepareReport(out, counts, [(p, r) for p, r, _ in skipped], notes=plan.notes)


def command_line(src: Path, out: Path, classes: int | list[str] | None, seed: int,
                 train_per_class: int | None, val_per_class: int | None, size: int) -> str:
    """The ``tinyalex prepare`` command that asks for these inputs and options, run from any folder."""
    words = ["tinyalex", "prepare", str(src.resolve()), "--out", str(out.resolve())]
    for flag, value, default in (("--classes", classes, None), ("--seed", seed, 0),
                                 ("--train-per-class", train_per_class, None),
                                 ("--val-per-class", val_per_class, None), ("--size", size, 256)):
        if value != default:
            words += [flag, ",".join(value) if isinstance(value, list) else str(value)]
    return " ".join(shlex.quote(w) for w in words)


def check_output_folder(out: Path) -> None:
    """Refuse a file, a missing parent, a folder without write access, or one that holds other files
    (prepare would overwrite any named like its own), creating nothing."""
    if out.exists() and not out.is_dir():
        raise DataError(f"output {out} exists and is not a folder")
    if not out.exists() and not out.parent.is_dir():
        what = "is not a folder" if out.parent.exists() else "does not exist"
        raise DataError(f"output folder {out} cannot be created: its parent {out.parent} {what}")
    if out.is_dir() and read_meta(out) is None and unfinished(out) is None:
        others = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise DataError(f"output folder {out} is not empty and holds no prepared set ({shown}): prepare "
                            "would overwrite files there; choose a new or empty --out folder")
    folder = out if out.exists() else out.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"output folder {out} is not writable" if folder == out else
                        f"output folder {out} cannot be created: {folder} is not writable")


def create_output_folder(out: Path) -> None:
    """Create ``out`` (its parent exists) and check that files can be written into it."""
    created = not out.exists()
    try:
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise DataError(f"output folder {out} cannot be created: {exc.strerror}") from None
    probe = out / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        if created:
            out.rmdir()
        raise DataError(f"output folder {out} is not writable: {exc.strerror}") from None


def make_plan(src: Path, classes: int | list[str] | None, seed: int,
              per_class: dict[str, int | None]) -> Plan:
    """Pick classes and images per class; every user error is raised here, before decoding."""
    for split, cap in per_class.items():
        if cap is not None and cap < 1:
            raise DataError(f"images per class for {split} must be at least 1, got {cap}")
    listing_skips: dict[str, list[tuple[str, str]]] = {"train": []}
    found = {"train": find_split(src, "train", listing_skips["train"])}
    if has_split(src, "val"):
        listing_skips["val"] = []
        found["val"] = find_split(src, "val", listing_skips["val"])
    available = sorted({wnid for _, wnid in found["train"]})
    if "val" in found:  # a class with validation images only cannot be learnt: list them as skipped
        listing_skips["val"] += [(str(path), f"class {wnid} is not in the training set")
                                 for path, wnid in found["val"] if wnid not in set(available)]
    wnids = choose_classes(available, classes, seed)
    index = {wnid: k for k, wnid in enumerate(wnids)}
    items = {}
    notes = [] if "val" in found else [
        f"{src} has no val/ folder, so the prepared set has no validation split, which `tinyalex train` needs: "
        "move a few images of each class from train/<class>/ to val/<class>/ and prepare again"]
    for split_no, (split, listing) in enumerate(found.items()):
        by_class: dict[str, list[Path]] = {w: [] for w in wnids}
        for path, wnid in listing:
            if wnid in index:
                by_class[wnid].append(path)
        chosen = []
        for wnid, paths in by_class.items():
            cap = per_class[split]
            if cap is not None and cap < len(paths):
                rng = np.random.default_rng([seed, split_no, index[wnid]])
                paths = [paths[i] for i in sorted(rng.choice(len(paths), cap, replace=False))]
            chosen += [(p, index[wnid]) for p in paths]
        items[split] = chosen
        short = [len(paths) for paths in by_class.values() if len(paths) < (per_class[split] or 0)]
        if short:
            notes.append(f"--{split}-per-class {per_class[split]}: {len(short)} of {len(wnids)} classes have fewer "
                         f"{split} images (as few as {min(short)}), and all of theirs were taken")
    return Plan(src, wnids, items, listing_skips, notes)


def choose_classes(available: list[str], classes: int | list[str] | None, seed: int) -> list[str]:
    """Sorted wnids: all, a seeded random ``classes`` of them, or the listed ones (checked)."""
    if classes is None:
        return available
    if isinstance(classes, int):
        if not 1 <= classes <= len(available):
            raise DataError(f"cannot choose {classes} classes: the training set has {len(available)}")
        rng = np.random.default_rng(seed)
        return sorted(available[i] for i in rng.choice(len(available), classes, replace=False))
    unknown = sorted(set(classes) - set(available))
    if unknown:
        sample = ", ".join(available[:5]) + (", ..." if len(available) > 5 else "")
        raise DataError(f"unknown class(es) {', '.join(unknown)}: not in the training set "
                        f"(which has {len(available)} classes: {sample})")
    if not classes:
        raise DataError("the class list is empty")
    return sorted(set(classes))


def fingerprint_of(plan: Plan, size: int) -> str:
    """A hash of everything the output depends on: files (name, size, mtime), labels, size."""
    digest = hashlib.sha256(json.dumps([FORMAT, size, plan.wnids]).encode())
    for split, items in plan.items.items():
        for path, label in items:
            try:
                st = path.stat()
                stamp = (st.st_size, st.st_mtime_ns)
            except OSError:
                stamp = (-1, -1)
            digest.update(json.dumps([split, str(path.resolve()), label, *stamp]).encode())
    return digest.hexdigest()


def read_meta(out: Path) -> dict | None:
    """The ``meta.json`` of a finished set in ``out``, or None."""
    try:
        with open(out / "meta.json", encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def unfinished(out: Path) -> str | None:
    """For a folder that ``prepare`` started but did not finish, what it is and the command that
    finishes it; None for any other folder."""
    try:
        state = json.loads((out / "state.json.partial").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    command = state.get("command") if isinstance(state, dict) else None
    command = command or f"tinyalex prepare SRC --out {shlex.quote(str(out))} (with the options it was started with)"
    return (f"{out} is an unfinished prepared set: `tinyalex prepare` was interrupted or failed before "
            f"writing meta.json. Finish it with the same command (it resumes where it stopped): {command}")


def class_names_of(out: Path, meta: dict) -> list[str]:
    """The class names of a finished set: from its ``classes.json`` (which people may edit) when it
    names every class, else from ``meta.json``; a name that is only the wnid gets the ILSVRC name."""
    wnids, names = meta["wnids"], list(meta["class_names"])
    path = out / "classes.json"
    if path.is_file():
        try:
            edited = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{path} is not valid JSON ({exc}); expected {{\"<wnid>\": \"<name>\", ...}}") from None
        missing = [w for w in wnids if not isinstance(edited, dict) or not isinstance(edited.get(w), str)]
        if missing:
            raise DataError(f"{path} gives no name for {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''};"
                            " expected one \"<wnid>\": \"<name>\" entry per class")
        names = [edited[w] for w in wnids]
    return display_names(wnids, names)


def start_state(out: Path, fingerprint: str, command: str) -> dict:
    """Resume state of an interrupted run on the same inputs, or a fresh one; it records ``command``."""
    path = out / "state.json.partial"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = {}
    if state.get("fingerprint") != fingerprint:
        for leftover in [*out.glob("*.partial"), *out.glob(".*_images.npy.*.tmp")]:
            leftover.unlink()
        state = {"fingerprint": fingerprint, "finished": []}
    state["command"] = command
    atomic.write_json(path, state)
    return state


def decode_split(out: Path, split: str, items: list[tuple[Path, int]], size: int,
                 workers: int | None, progress: bool, state: dict) -> dict[int, str]:
    """Decode the pending images of one split into its partial memory map; {index: reason} of bad ones."""
    log = out / f"{split}_skipped.jsonl.partial"
    image_file, status_file = out / f"{split}_images.npy.partial", out / f"{split}_status.npy.partial"
    resuming = split in state["finished"] or (image_file.exists() and status_file.exists())
    if not resuming:
        log.unlink(missing_ok=True)
    bad = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                bad[entry["index"]] = entry["reason"]
    if split in state["finished"] or not items:
        return bad
    shape = (len(items), size, size, 3)
    mode = "r+" if resuming else "w+"
    images = np.lib.format.open_memmap(image_file, mode=mode, dtype=np.uint8, shape=shape)
    status = np.lib.format.open_memmap(status_file, mode=mode, dtype=np.uint8, shape=(len(items),))
    for array, path in ((images, image_file), (status, status_file)):
        reserve(path, array.offset + array.nbytes, f"the {len(items)} {split} images at {size}x{size}")

    def decode_one(i: int) -> str | None:
        try:
            images[i] = load_rgb_square(items[i][0], size)
        except BadImageError as exc:
            return exc.reason
        return None

    pending = np.flatnonzero(status == PENDING)
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool, \
            tqdm(total=len(items), initial=len(items) - len(pending), desc=f"decode {split}",
                 unit="img", disable=not progress) as bar:
        for start in range(0, len(pending), CHUNK):
            chunk = pending[start:start + CHUNK]
            reasons = list(pool.map(decode_one, chunk))
            images.flush()  # images reach the disk before the status that vouches for them
            with open(log, "a", encoding="utf-8") as f:
                for i, reason in zip(chunk, reasons):
                    if reason is not None:
                        bad[int(i)] = reason
                        f.write(json.dumps({"index": int(i), "reason": reason}) + "\n")
            status[chunk] = [DONE if r is None else BAD for r in reasons]
            status.flush()
            bar.update(len(chunk))
    del images, status
    return bad


def finish_split(out: Path, split: str, plan: Plan, bad: dict[int, str], size: int, state: dict) -> int:
    """Write a split's final images (bad ones left out), labels and paths; return its count."""
    items = plan.items[split]
    keep = [i for i in range(len(items)) if i not in bad]
    final, partial = out / f"{split}_images.npy", out / f"{split}_images.npy.partial"
    if split not in state["finished"]:
        if partial.exists() and not bad:
            atomic.replace(partial, final)
        elif partial.exists():
            source = np.load(partial, mmap_mode="r")
            with atomic.writing(final) as tmp:
                target = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                                   shape=(len(keep), size, size, 3))
                reserve(tmp, target.offset + target.nbytes, f"the {len(keep)} good {split} images")
                for start in range(0, len(keep), CHUNK):
                    target[start:start + CHUNK] = source[keep[start:start + CHUNK]]
                target.flush()
                del target, source
        elif not items:
            atomic.write_npy(final, np.zeros((0, size, size, 3), dtype=np.uint8))
        labels = np.array([items[i][1] for i in keep], dtype=np.int64)
        atomic.write_npy(out / f"{split}_labels.npy", labels)
        atomic.write_json(out / f"{split}_paths.json", [relative(items[i][0], plan.src) for i in keep])
        state["finished"].append(split)
        atomic.write_json(out / "state.json.partial", state)
    return len(keep)


def relative(path: Path, src: Path) -> str:
    try:
        return str(path.relative_to(src))
    except ValueError:
        return str(path)
