"""`prepare` and `tinyalex prepare`: labels, geometry, statistics, selection, skips, resume, no-op."""
from __future__ import annotations

import errno
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from data_fixtures import GREYS, MODES, NAMES, WNIDS, expected_level, make_flat_val, make_folder_layout, write_broken
from full_disk import run_with_full_disk
from tinyalex.cli.main import main
from tinyalex.data import DataError, PreparedDataset, default_root, image_statistics, prepare, principal_components

prepare_module = importlib.import_module("tinyalex.data.prepare")

SIZE = 24


@pytest.fixture()
def src(tmp_path):
    root = make_folder_layout(tmp_path / "src", train_per_class=len(MODES), val_per_class=2)
    broken = write_broken(root / "train" / WNIDS[1])
    return root, broken


def test_prepare_refuses_a_class_none_of_whose_training_images_decodes(tmp_path):
    """Such a class was kept: train then built a classifier for a class it never saw."""
    root = make_folder_layout(tmp_path / "src", train_per_class=2, val_per_class=1)
    for image in (root / "train" / WNIDS[2]).iterdir():
        image.write_bytes(b"not an image")
    with pytest.raises(DataError, match=rf"no training image of class\(es\) {WNIDS[2]} could be decoded "
                                        rf"\(.*{WNIDS[2]}_0.*\); mend or remove those folders"):
        prepare(root, tmp_path / "out", size=SIZE, workers=1, progress=False)
    assert not (tmp_path / "out" / "meta.json").exists()


def check_labels(out, split):
    """Every stored image is the flat grey of its label's class, and its path's folder is its wnid."""
    images = np.load(out / f"{split}_images.npy", mmap_mode="r")
    labels = np.load(out / f"{split}_labels.npy")
    paths = json.loads((out / f"{split}_paths.json").read_text())
    wnids = json.loads((out / "meta.json").read_text())["wnids"]
    assert images.shape == (len(labels), SIZE, SIZE, 3) and images.dtype == np.uint8
    for image, label, path in zip(images, labels, paths):
        assert path.split("/")[-2] == wnids[label]
        mode = MODES[int(path.rsplit("_", 1)[1].split(".")[0]) % len(MODES)][1]  # make_folder_layout's naming
        level = expected_level(mode, GREYS[WNIDS.index(wnids[label])])
        assert np.abs(image.astype(int) - level).max() <= 2, path


def test_prepare_writes_images_labels_names_and_reports_skips(src, tmp_path):
    root, broken = src
    report = prepare(root, tmp_path / "out", size=SIZE, workers=2, progress=False)
    out = tmp_path / "out"
    assert report.counts == {"train": 3 * len(MODES), "val": 6} and not report.reused
    assert sorted(p for p, _ in report.skipped) == sorted(str(p) for p in broken)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["wnids"] == WNIDS and meta["size"] == SIZE
    assert meta["class_names"][0] == "tench, Tinca tinca"
    assert len(meta["skipped"]) == 3 and all(s["reason"] for s in meta["skipped"])
    check_labels(out, "train")
    check_labels(out, "val")
    assert "skipped 3 file(s)" in report.summary() and "truncated.JPEG" in report.summary()
    assert not list(out.glob("*.partial")) and not list(out.glob(".*.tmp"))


def test_mean_and_covariance_match_a_direct_computation(src, tmp_path):
    root, _ = src
    prepare(root, tmp_path / "out", size=SIZE, progress=False)
    ds = PreparedDataset(tmp_path / "out", "train")
    images = np.asarray(ds.images, dtype=np.float64)
    np.testing.assert_allclose(ds.mean, images.mean(axis=0), rtol=0, atol=1e-9)
    assert ds.mean.dtype == np.float64 and ds.mean.shape == (SIZE, SIZE, 3)
    np.testing.assert_allclose(ds.cov, np.cov(images.reshape(-1, 3), rowvar=False), rtol=1e-10)
    assert np.all(np.diff(ds.eigvals) <= 0)
    np.testing.assert_allclose(ds.cov @ ds.eigvecs, ds.eigvecs * ds.eigvals, atol=1e-8)


def test_chunked_statistics_keep_float64_precision():
    rng = np.random.default_rng(0)
    images = rng.integers(200, 256, size=(13, 5, 7, 3)).astype(np.uint8)  # large mean, small variance
    mean, cov = image_statistics(images, chunk=4)
    pixels = images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(mean, images.astype(np.float64).mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(cov, np.cov(pixels, rowvar=False), rtol=1e-12)
    eigvals, eigvecs = principal_components(cov)
    np.testing.assert_allclose(eigvecs @ np.diag(eigvals) @ eigvecs.T, cov, atol=1e-9)


def test_class_count_and_per_class_caps_are_seeded(src, tmp_path):
    root, _ = src
    a = prepare(root, tmp_path / "a", classes=2, seed=3, train_per_class=2, val_per_class=1, size=SIZE, progress=False)
    b = prepare(root, tmp_path / "b", classes=2, seed=3, train_per_class=2, val_per_class=1, size=SIZE, progress=False)
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert len(meta["wnids"]) == 2 and meta["wnids"] == sorted(meta["wnids"]) and set(meta["wnids"]) <= set(WNIDS)
    assert a.counts == b.counts and a.counts["val"] == 2 and a.counts["train"] <= 4
    for name in ("train_paths.json", "val_paths.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "train_images.npy"), np.load(tmp_path / "b" / "train_images.npy"))


def test_class_list_selects_and_reindexes(src, tmp_path):
    root, _ = src
    prepare(root, tmp_path / "out", classes=[WNIDS[2], WNIDS[0]], size=SIZE, progress=False)
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["wnids"] == [WNIDS[0], WNIDS[2]]
    check_labels(tmp_path / "out", "train")


@pytest.mark.parametrize("kwargs,message", [
    ({"classes": ["n01440764", "n07777777"]}, "unknown class.*n07777777"),
    ({"classes": 4}, "cannot choose 4 classes"),
    ({"train_per_class": 0}, "at least 1"),
])
def test_bad_selection_fails_before_any_work(src, tmp_path, kwargs, message):
    root, _ = src
    with pytest.raises(DataError, match=message):
        prepare(root, tmp_path / "out", size=SIZE, progress=False, **kwargs)
    assert not (tmp_path / "out").exists()  # no empty output folder left behind


def test_empty_class_folder_fails_before_any_work(src, tmp_path):
    root, _ = src
    (root / "train" / "n05555555").mkdir()
    with pytest.raises(DataError, match="n05555555"):
        prepare(root, tmp_path / "out", size=SIZE, progress=False)
    assert not (tmp_path / "out").exists()


def test_output_folder_errors(src, tmp_path):
    root, _ = src
    with pytest.raises(DataError, match="parent .* does not exist"):
        prepare(root, tmp_path / "no" / "such" / "out", size=SIZE, progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        prepare(root, tmp_path / "file", size=SIZE, progress=False)
    with pytest.raises(DataError, match="source folder"):
        prepare(tmp_path / "nothing", tmp_path / "out", size=SIZE, progress=False)
    with pytest.raises(DataError, match="its parent .*file is not a folder"):
        prepare(root, tmp_path / "file" / "out", size=SIZE, progress=False)


def test_a_folder_holding_other_files_is_never_written_into(src, tmp_path):
    root, _ = src
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "meta.json").write_text('{"mine": 1}')
    (mine / "mean.npy").write_text("precious")
    with pytest.raises(DataError, match=r"is not empty and holds no prepared set \(mean.npy, meta.json\)"):
        prepare(root, mine, size=SIZE, progress=False)
    assert (mine / "meta.json").read_text() == '{"mine": 1}' and (mine / "mean.npy").read_text() == "precious"
    assert sorted(p.name for p in mine.iterdir()) == ["mean.npy", "meta.json"]
    (tmp_path / "empty").mkdir()  # an empty folder, or one with only hidden files, is fine
    (tmp_path / "empty" / ".DS_Store").write_text("")
    prepare(root, tmp_path / "empty", size=SIZE, progress=False)
    prepare(root, tmp_path / "empty", size=SIZE, progress=False)  # and so is a finished set, the second time


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions that bind")
def test_unwritable_output_folder_is_an_error(src, tmp_path):
    root, _ = src
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(DataError, match="not writable"):
        prepare(root, locked, size=SIZE, progress=False)


def test_rerun_on_same_inputs_is_a_no_op(src, tmp_path):
    root, _ = src
    first = prepare(root, tmp_path / "out", size=SIZE, progress=False)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    again = prepare(root, tmp_path / "out", size=SIZE, progress=False)
    assert again.reused and again.counts == first.counts and again.skipped == first.skipped
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == stamps


def test_other_inputs_into_a_finished_folder_are_refused(src, tmp_path):
    root, _ = src
    prepare(root, tmp_path / "out", size=SIZE, progress=False)
    with pytest.raises(DataError, match="already holds a prepared set"):
        prepare(root, tmp_path / "out", size=SIZE + 8, progress=False)


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(src, tmp_path, monkeypatch):
    root, _ = src
    prepare(root, tmp_path / "whole", size=SIZE, workers=1, progress=False)
    monkeypatch.setattr(prepare_module, "CHUNK", 4)
    real = prepare_module.load_rgb_square
    calls = []

    def interrupted(path, size):
        calls.append(path)
        if len(calls) > 10:
            raise KeyboardInterrupt
        return real(path, size)

    monkeypatch.setattr(prepare_module, "load_rgb_square", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(root, tmp_path / "out", size=SIZE, workers=1, progress=False)
    assert not (tmp_path / "out" / "meta.json").exists()
    calls.clear()
    monkeypatch.setattr(prepare_module, "load_rgb_square", lambda path, size: (calls.append(path), real(path, size))[1])
    report = prepare(root, tmp_path / "out", size=SIZE, workers=1, progress=False)
    total = 3 * len(MODES) + 3 + 6
    assert len(calls) == total - 8  # two chunks of four were finished before the interruption
    assert len(report.skipped) == 3
    for name in ("train_images.npy", "train_labels.npy", "val_images.npy", "mean.npy", "pca.npz",
                 "train_paths.json"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_sigterm_stops_prepare_like_ctrl_c_with_the_command_that_resumes(src, tmp_path, monkeypatch, capsys):
    """A scheduler's SIGTERM ended prepare in silence (exit 143 and nothing said)."""
    root, _ = src
    monkeypatch.setattr(prepare_module, "CHUNK", 4)
    real = prepare_module.load_rgb_square
    calls = []

    def terminated(path, size):
        calls.append(path)
        if len(calls) == 10:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(path, size)

    monkeypatch.setattr(prepare_module, "load_rgb_square", terminated)
    command = ["prepare", str(root), "--out", str(tmp_path / "out"), "--size", str(SIZE), "--workers", "1"]
    assert main(command) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM; run the same command again to resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    monkeypatch.setattr(prepare_module, "load_rgb_square", real)
    assert main(command) == 0 and (tmp_path / "out" / "meta.json").exists()


def test_flat_validation_layout_is_prepared_with_its_labels(tmp_path):
    root = make_folder_layout(tmp_path / "src", train_per_class=2, val_per_class=1, all_modes=False)
    for folder in (root / "val").iterdir():
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    make_flat_val(root, ["n02119789", "n01440764", "n02100735"], "devkit")
    report = prepare(root, tmp_path / "out", size=SIZE, progress=False)
    assert report.counts == {"train": 6, "val": 3}
    labels = np.load(tmp_path / "out" / "val_labels.npy")
    images = np.load(tmp_path / "out" / "val_images.npy")
    assert labels.tolist() == [0, 1, 2]
    assert [int(round(img.mean())) for img in images] == GREYS


def test_cli_prepares_and_reports(src, tmp_path, capsys):
    root, _ = src
    code = main(["prepare", str(root), "--out", str(tmp_path / "out"), "--size", str(SIZE),
                 "--classes", f"{WNIDS[0]},{WNIDS[1]}", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0 and "prepared" in captured.out and "skipped 3 file(s)" in captured.out
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["wnids"] == WNIDS[:2]


def test_cli_user_error_is_one_line_on_stderr(src, tmp_path, capsys):
    root, _ = src
    code = main(["prepare", str(root), "--out", str(tmp_path / "out"), "--classes", "n00000001", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("tinyalex prepare: error: unknown class(es) n00000001")
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out").exists()


def test_a_symbolic_link_loop_is_reported_like_the_other_skipped_files(src, tmp_path):
    root, broken = src
    loop = root / "train" / WNIDS[2] / "loop.JPEG"
    loop.symlink_to(loop)
    report = prepare(root, tmp_path / "out", size=SIZE, progress=False)
    assert (str(loop), "symbolic link loop") in report.skipped and len(report.skipped) == 4
    assert f"{loop}: symbolic link loop" in report.summary()


def fallocate_fails_for(split, monkeypatch):
    """Make reserving disk space fail, as on a full disk, for the memory maps of ``split``."""
    real = os.posix_fallocate

    def full(fd, offset, length):
        if os.readlink(f"/proc/self/fd/{fd}").split("/")[-1].startswith(split):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", full)


@pytest.mark.skipif(not hasattr(os, "posix_fallocate") or not os.path.isdir("/proc/self/fd"),
                    reason="needs posix_fallocate and /proc")
def test_a_full_disk_is_an_error_message_and_keeps_what_was_decoded(src, tmp_path, monkeypatch, capsys):
    root, _ = src
    prepare(root, tmp_path / "whole", size=SIZE, workers=1, progress=False)
    fallocate_fails_for("val", monkeypatch)
    code = main(["prepare", str(root), "--out", str(tmp_path / "out"), "--size", str(SIZE), "--workers", "1",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"not enough free space in {tmp_path / 'out'} for the 6 val images at {SIZE}x{SIZE}" in err
    assert f"run the same command again; it resumes with everything done so far: tinyalex prepare {root} " \
           f"--out {tmp_path / 'out'} --size {SIZE}" in err
    assert (tmp_path / "out" / "train_images.npy").exists() and not (tmp_path / "out" / "meta.json").exists()
    monkeypatch.undo()
    decoded = []
    real = prepare_module.load_rgb_square
    monkeypatch.setattr(prepare_module, "load_rgb_square", lambda p, s: (decoded.append(p), real(p, s))[1])
    prepare(root, tmp_path / "out", size=SIZE, workers=1, progress=False)
    assert len(decoded) == 6  # only the validation images: the training split was kept
    for name in ("train_images.npy", "val_images.npy", "mean.npy", "pca.npz", "val_labels.npy"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


FULL_DISK_PREPARE = """
import os, shutil, sys
from pathlib import Path
from tinyalex.cli.main import main
disk = Path(sys.argv[1])
src, reference = Path(os.environ["SRC"]), Path(os.environ["REFERENCE"])
train_bytes = sum(f.stat().st_size for f in reference.glob("train_*"))
filler = disk / "filler"  # leave room for the training split and its copy without the bad files, not for val
filler.write_bytes(b"x" * (shutil.disk_usage(disk).free - 2 * train_bytes - 48 * 1024))
code = main(["prepare", str(src), "--out", str(disk / "out"), "--size", "100", "--workers", "1", "--quiet"])
print("first", code, flush=True)
filler.unlink()
code = main(["prepare", str(src), "--out", str(disk / "out"), "--size", "100", "--workers", "1", "--quiet"])
print("second", code, all((disk / "out" / n).read_bytes() == (reference / n).read_bytes()
                          for n in ("train_images.npy", "val_images.npy", "mean.npy")), flush=True)
"""


def test_a_really_full_disk_is_not_a_bus_error(src, tmp_path):
    root, _ = src
    prepare(root, tmp_path / "reference", size=100, workers=1, progress=False)
    env = {**os.environ, "SRC": str(root), "REFERENCE": str(tmp_path / "reference")}
    result = run_with_full_disk(tmp_path / "disk", FULL_DISK_PREPARE, size="4m", env=env)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])  # SIGBUS would be -7
    outcome = [line for line in result.stdout.splitlines() if line.startswith(("first", "second"))]
    assert outcome == ["first 2", "second 0 True"], result.stdout
    assert "not enough free space" in result.stderr and "Bus error" not in result.stderr


def test_a_set_too_big_for_the_disk_is_refused_before_any_image_is_decoded(src, tmp_path, monkeypatch):
    """Space was reserved split by split: the training split filled the disk, then val failed."""
    from tinyalex.data import space

    root, _ = src
    decoded = []
    monkeypatch.setattr(prepare_module, "load_rgb_square", lambda p, s: decoded.append(p))
    needed = (3 * len(MODES) + 3 + 6) * (SIZE * SIZE * 3 + 1)  # every listed train and val file, and its status
    monkeypatch.setattr(space.shutil, "disk_usage", lambda _: SimpleNamespace(free=needed // 2))
    with pytest.raises(DataError, match=rf"not enough free space in {tmp_path / 'out'} for the train and val images "
                                        rf"at {SIZE}x{SIZE}: {needed / 1024:.1f} KiB more are needed, the disk has "
                                        rf"{needed // 2 / 1024:.1f} KiB free. Free some space"):
        prepare(root, tmp_path / "out", size=SIZE, workers=1, progress=False)
    assert decoded == [] and not list((tmp_path / "out").glob("*.npy*"))
    assert [space.amount(n) for n in (9.4 * 2**20, 3 * 2**30, 1536)] == ["9.4 MiB", "3.00 GiB", "1.5 KiB"]


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="needs posix_fallocate")
def test_a_file_too_big_for_the_disk_takes_none_of_it(tmp_path, monkeypatch):
    """The free space is checked before allocating: on ext4 a failed posix_fallocate keeps the blocks it got,
    and prepare once left a disk full that way, saying "the disk has 0.00 GiB free"."""
    from tinyalex.data import space

    path = tmp_path / "images.npy.partial"
    path.write_bytes(b"header")
    calls = []
    monkeypatch.setattr(os, "posix_fallocate", lambda *args: calls.append(args))
    monkeypatch.setattr(space.shutil, "disk_usage", lambda _: SimpleNamespace(free=3 * 2**30))
    with pytest.raises(space.DiskFullError, match="needs 5.00 GiB, the disk has 3.00 GiB free"):
        space.reserve(path, 5 * 2**30, "the test's images")
    assert calls == []


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="needs posix_fallocate")
def test_an_allocation_that_fails_midway_hands_its_blocks_back(tmp_path, monkeypatch):
    """Another writer took the space between the check and the allocation: the blocks got are released."""
    from tinyalex.data.space import DiskFullError, reserve

    path = tmp_path / "images.npy.partial"
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(64, 128, 128, 3))
    header = path.read_bytes()[:array.offset]
    del array
    real = os.posix_fallocate

    def allocate_then_fail(fd, offset, length):
        real(fd, offset, length)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", allocate_then_fail)
    with pytest.raises(DiskFullError, match="not enough free space"):
        reserve(path, 64 * 128 * 128 * 3 + len(header), "the test's images")
    assert path.stat().st_blocks * 512 <= 64 * 1024 and path.read_bytes()[:len(header)] == header
    assert path.stat().st_size == 64 * 128 * 128 * 3 + len(header)


def test_a_half_prepared_folder_is_called_unfinished_with_the_command_that_finishes_it(src, tmp_path, monkeypatch,
                                                                                      capsys):
    root, _ = src
    monkeypatch.setattr(prepare_module, "finish_split", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        prepare(root, tmp_path / "half", classes=2, seed=1, size=SIZE, progress=False)
    finish = f"tinyalex prepare {root} --out {tmp_path / 'half'} --classes 2 --seed 1 --size {SIZE}"
    with pytest.raises(DataError, match="unfinished prepared set") as error:
        PreparedDataset(tmp_path / "half", "train")
    assert str(error.value).endswith(f"Finish it with the same command (it resumes where it stopped): {finish}")
    assert main(["train", "--data", str(tmp_path / "half"), "--quiet"]) == 1
    assert "is an unfinished prepared set" in capsys.readouterr().err
    monkeypatch.chdir(root.parent)  # relative paths: the command must work from any other folder too
    with pytest.raises(KeyboardInterrupt):
        prepare(root.name, "relative", size=SIZE, progress=False)
    with pytest.raises(DataError, match=rf"same command \(it resumes where it stopped\): tinyalex prepare {root} "
                                        rf"--out {root.parent / 'relative'} --size {SIZE}$"):
        PreparedDataset(root.parent / "relative", "train")


def test_stale_temporary_files_of_a_killed_prepare_are_removed_when_it_resumes(src, tmp_path, monkeypatch):
    root, _ = src
    real = prepare_module.finish_split
    monkeypatch.setattr(prepare_module, "finish_split", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        prepare(root, tmp_path / "out", size=SIZE, progress=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "out" / f".train_images.npy.{dead.pid}.tmp"  # what a SIGKILL in finish_split leaves
    stale.write_bytes(b"\0" * 1000)
    monkeypatch.setattr(prepare_module, "finish_split", real)
    prepare(root, tmp_path / "out", size=SIZE, progress=False)
    assert not stale.exists()


def test_the_cache_folder_is_created_where_the_library_picks_it(src, tmp_path, monkeypatch):
    root, _ = src
    monkeypatch.setenv("TINYALEX_DATA", str(tmp_path / "fresh" / "cache"))
    prepare(root, default_root() / "small-prepared-73", size=SIZE, progress=False)  # what lesson 12 does
    assert (tmp_path / "fresh" / "cache" / "small-prepared-73" / "meta.json").is_file()


def test_a_prepared_set_carries_its_class_names_in_an_editable_classes_json(tmp_path):
    root = make_folder_layout(tmp_path / "src", 1, 1, all_modes=False, names_file=None)
    out = tmp_path / "out"
    prepare(root, out, size=SIZE, progress=False)
    assert json.loads((out / "classes.json").read_text()) == NAMES  # no names file: the ILSVRC table's
    assert PreparedDataset(out, "val").class_names == [NAMES[w] for w in WNIDS]
    (out / "classes.json").write_text(json.dumps({**NAMES, WNIDS[1]: "setter"}))
    assert PreparedDataset(out, "val").class_names[1] == "setter"
    (out / "classes.json").write_text(json.dumps({WNIDS[0]: "tench"}))
    with pytest.raises(DataError, match=f"classes.json gives no name for {WNIDS[1]}, {WNIDS[2]}"):
        PreparedDataset(out, "val")


def test_an_imagenet_folder_opened_as_a_prepared_set_says_how_to_prepare_it(tmp_path):
    """It said 'run tinyalex prepare SRC --out <the folder itself>', which would prepare into the images."""
    make_folder_layout(tmp_path / "photos", train_per_class=1, val_per_class=1, all_modes=False)
    with pytest.raises(DataError, match=r"photos is an ImageNet-layout folder, not a prepared set: run `tinyalex "
                                        r"prepare .*photos --out PREPARED` and use PREPARED"):
        PreparedDataset(tmp_path / "photos")
    with pytest.raises(DataError, match="empty is not a prepared set"):
        PreparedDataset(tmp_path / "empty")


def test_a_source_without_val_and_caps_above_the_class_sizes_are_noted(tmp_path, capsys):
    """Both passed without a word: the set then could not be trained on ("has no 'val' split"), and a
    --train-per-class of 10 took the 3 images each class has."""
    src = make_folder_layout(tmp_path / "src", train_per_class=3, val_per_class=2, all_modes=False)
    report = prepare(src, tmp_path / "with-val", size=16, train_per_class=10, val_per_class=2, progress=False)
    assert report.notes == [f"--train-per-class 10: {len(WNIDS)} of {len(WNIDS)} classes have fewer train images "
                            "(as few as 3), and all of theirs were taken"]
    shutil.rmtree(src / "val")
    assert main(["prepare", str(src), "--out", str(tmp_path / "out"), "--size", "16", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"note: {src} has no val/ folder, so the prepared set has no validation split" in printed
    assert "per-class" not in printed  # no cap, no note on it
    with pytest.raises(DataError, match=r"has no 'val' split \(its source had no val/ folder"):
        PreparedDataset(tmp_path / "out", "val")
