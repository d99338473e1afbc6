"""Checkpoints: a lossless round trip, atomic writes, model rebuilding, clear errors for bad files and full disks."""
import errno
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from full_disk import FILL_THE_DISK, run_with_full_disk
from PIL import Image
from training_helpers import ArrayLoader, tiny_alexnet, toy_images

from tinyalex.cli.main import main

from tinyalex.engine.tensor import no_grad
from tinyalex.optim import MomentumSGD
from tinyalex.training import CheckpointError, Trainer, load_checkpoint, load_model
from tinyalex.training.checkpoint import CheckpointWriteError
from tinyalex.training.checkpoint import dropout_states, load_dropout_states, save_checkpoint

TESTS = Path(__file__).parent


@pytest.fixture
def trained(tmp_path):
    """A trainer after one epoch, with its checkpoint written."""
    model = tiny_alexnet()
    x, y = toy_images(32)
    trainer = Trainer(model, MomentumSGD(model.parameters()), tmp_path, quiet=True,
                      data_info={"wnids": ["a", "b", "c", "d"]}, mean=np.full((36, 36, 3), 7.0))
    trainer.fit(ArrayLoader(x, y, 16), ArrayLoader(x, y, 16, shuffle=False), 1)
    return trainer, tmp_path / "last.npz"


def test_round_trip_keeps_every_piece_of_state(trained):
    trainer, path = trained
    saved = load_checkpoint(path)
    for name, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(saved["model"][name], value)
    velocities = trainer.optimizer.state_dict()["velocities"]
    assert set(saved["velocities"]) == set(velocities) and len(velocities) == 16
    for i, v in velocities.items():
        np.testing.assert_array_equal(saved["velocities"][i], v)
    meta = saved["meta"]
    assert meta["dropout_rng"] == dropout_states(trainer.model) and set(meta["dropout_rng"]) == {"drop6", "drop7"}
    assert meta["data"] == {"wnids": ["a", "b", "c", "d"]} and meta["optimizer"]["groups"][0]["lr"] == 0.01
    assert saved["mean"].dtype == np.float32 and saved["mean"][0, 0, 0] == 7.0


def test_restored_dropout_layers_draw_the_same_masks(trained):
    trainer, path = trained
    other = tiny_alexnet(seed=9)
    assert other.drop6.seed != trainer.model.drop6.seed
    load_dropout_states(other, load_checkpoint(path)["meta"]["dropout_rng"])
    assert other.drop6.step == trainer.model.drop6.step == 2  # one mask per training step: 32 images, batches of 16
    x = np.ones((4, 8), np.float32)
    np.testing.assert_array_equal(trainer.model.drop6(x).data, other.drop6(x).data)
    np.testing.assert_array_equal(trainer.model.drop7(x).data, other.drop7(x).data)


def test_a_checkpoint_with_generator_states_says_it_cannot_resume_exactly(trained):
    trainer, path = trained
    old = {name: {"bit_generator": "PCG64", "state": {"state": 1, "inc": 2}, "has_uint32": 0, "uinteger": 0}
           for name in ("drop6", "drop7")}
    with pytest.raises(CheckpointError, match="older tinyalex whose masks came from another generator"):
        load_dropout_states(tiny_alexnet(), old)


def test_load_model_rebuilds_the_same_network_in_eval_mode(trained):
    trainer, path = trained
    model, _ = load_model(path)
    x, _ = toy_images(4)
    trainer.model.eval()
    with no_grad():
        np.testing.assert_array_equal(model(x).data, trainer.model(x).data)
    assert not model.training


def test_a_failed_write_is_a_clear_error_and_leaves_no_temporary_file(trained, monkeypatch):
    trainer, path = trained
    before = path.read_bytes()

    def fill_the_disk(file, **arrays):  # what np.savez meets on a full disk: some bytes, then ENOSPC
        file.write(b"\0" * 100_000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", fill_the_disk)
    with pytest.raises(CheckpointWriteError, match=r"could not write .*last\.npz: No space left on device "
                                                   r"\(.* is full: free some space\); the previous last\.npz is unchanged"):
        trainer.save(path)
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*.tmp"))


FULL_DISK_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from tinyalex.training.checkpoint import CheckpointWriteError, save_checkpoint
folder = Path(sys.argv[1])
save_checkpoint(folder / "last.npz", {"w": np.ones(1000, np.float32)}, {}, {"epoch": 1})
before = (folder / "last.npz").read_bytes()
try:
    save_checkpoint(folder / "last.npz", {"w": np.ones(1_000_000, np.float32)}, {}, {"epoch": 2})  # 4 MB on 1 MB
except CheckpointWriteError as exc:
    print("error:", exc)
print("intact:", (folder / "last.npz").read_bytes() == before)
print("files:", sorted(p.name for p in folder.iterdir()))
"""


def test_a_really_full_disk_keeps_the_previous_checkpoint_and_no_temporary_file(tmp_path):
    result = run_with_full_disk(tmp_path / "disk", FULL_DISK_SCRIPT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "No space left on device" in lines[0] and "the previous last.npz is unchanged" in lines[0], lines
    assert lines[1:] == ["intact: True", "files: ['last.npz']"]


LOG_ON_A_FULL_DISK = FILL_THE_DISK + """
import sys
from pathlib import Path
sys.path.insert(0, TESTS_DIR)
from training_helpers import tiny_alexnet
from tinyalex.optim import MomentumSGD
from tinyalex.training import Trainer
from tinyalex.training.checkpoint import CheckpointWriteError
disk = Path(sys.argv[1])
model = tiny_alexnet()
old, new = (Trainer(model, MomentumSGD(model.parameters()), disk / name, quiet=True) for name in ("old", "new"))
old.log("training started")
before = (disk / "old" / "train.log").read_bytes()
fill_the_disk(disk / "filler")
for trainer in (old, new):  # a line longer than a block: the old log's last block takes its start, then ENOSPC
    try:
        trainer.log("epoch 1: " + "x" * 5000)
    except CheckpointWriteError as exc:
        print("error:", exc)
print("intact:", (disk / "old" / "train.log").read_bytes() == before)
print("files:", sorted(p.name for p in (disk / "new").iterdir()))
"""


def test_a_full_disk_while_appending_to_train_log_leaves_no_part_of_a_line(tmp_path):
    result = run_with_full_disk(tmp_path / "disk", f"TESTS_DIR = {str(TESTS)!r}\n" + LOG_ON_A_FULL_DISK)
    assert result.returncode == 0, result.stderr
    disk = tmp_path / "disk"
    assert result.stdout.splitlines() == [
        f"error: could not write {disk / 'old' / 'train.log'}: No space left on device ({disk / 'old'} is full: "
        "free some space); the previous train.log is unchanged",
        f"error: could not write {disk / 'new' / 'train.log'}: No space left on device ({disk / 'new'} is full: "
        "free some space); no train.log was written",
        "intact: True", "files: []"]


def test_stale_temporary_files_of_killed_runs_are_removed_on_the_next_start(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now belongs to no process
    stale = [tmp_path / f".last.npz.{dead.pid}.tmp", tmp_path / f".metrics.csv.{dead.pid}.tmp"]
    alive = tmp_path / f".best.npz.{os.getppid()}.tmp"  # a writer that still runs keeps its file
    for f in (*stale, alive):
        f.write_bytes(b"half a checkpoint")
    model = tiny_alexnet()
    Trainer(model, MomentumSGD(model.parameters()), tmp_path, quiet=True)
    assert not any(f.exists() for f in stale) and alive.exists()
    assert f".last.npz.{dead.pid}.tmp" in (tmp_path / "train.log").read_text()


def test_bad_files_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint .*best.npz and last.npz"):
        load_checkpoint(tmp_path)  # a run folder: it was called missing
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="junk.npz is not a tinyalex checkpoint .*not a zip"):
        load_checkpoint(junk)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array('{"format": "something-else"}'))
    with pytest.raises(CheckpointError, match="expected 'tinyalex-checkpoint-v1'"):
        load_checkpoint(other)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.npz is not a tinyalex checkpoint .*: it is empty"):
        load_checkpoint(empty)


def test_a_truncated_checkpoint_is_called_damaged(trained):
    _, path = trained
    data = path.read_bytes()
    for keep in (len(data) // 2, len(data) - 10):
        cut = path.with_name(f"cut{keep}.npz")
        cut.write_bytes(data[:keep])
        with pytest.raises(CheckpointError, match=rf"cut{keep}\.npz is damaged .*truncated or corrupted; "
                                                  "expected a tinyalex checkpoint"):
            load_checkpoint(cut)


@pytest.mark.parametrize("where", [0.2, 0.5, 0.8])
def test_a_flipped_bit_is_caught_by_the_checksum(trained, where):
    _, path = trained
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x08
    flipped = path.with_name("flipped.npz")
    flipped.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flipped\.npz is damaged \(Bad CRC-32"):
        load_checkpoint(flipped)


def test_a_damaged_entry_name_is_called_damaged_not_another_kind_of_file(trained):
    """A changed byte in the zip's central directory renamed 'meta': the file was said to have no 'meta' entry."""
    _, path = trained
    data = bytearray(path.read_bytes())
    at = data.rfind(b"meta.npy")  # the central directory's copy of the name (the last one in the file)
    data[at + 2] ^= 0x01
    renamed = path.with_name("renamed.npz")
    renamed.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"renamed\.npz is damaged \(an entry fails its CRC-32 check\)"):
        load_checkpoint(renamed)


def test_other_kinds_of_file_are_named(tmp_path):
    photo = tmp_path / "photo.npz"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(photo, "JPEG")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(photo)
    assert str(error.value) == (f"{photo} is not a tinyalex checkpoint (an .npz file written by `tinyalex train`): "
                                "it is a JPEG image")
    weights = tmp_path / "weights.npz"
    np.savez(weights, w=np.zeros(3), b=np.zeros(1))
    with pytest.raises(CheckpointError, match=r"weights\.npz is not a tinyalex checkpoint .*no 'meta' entry "
                                              r"\(it holds w, b\)"):
        load_checkpoint(weights)
    torch_file = tmp_path / "model.pth"
    with zipfile.ZipFile(torch_file, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(CheckpointError, match="looks like a PyTorch file"):
        load_checkpoint(torch_file)


def test_a_checkpoint_of_another_model_is_refused_by_name(trained):
    _, path = trained
    other = tiny_alexnet(num_classes=5)
    trainer = Trainer(other, MomentumSGD(other.parameters()), quiet=True)
    with pytest.raises(CheckpointError, match=r"last\.npz is a checkpoint of another model: num_classes 4 "
                                              r"\(this model: 5\)"):
        trainer.restore(path)


def test_the_cli_reports_a_bad_checkpoint_in_one_line(trained, tmp_path, capsys):
    _, path = trained
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped = tmp_path / "flipped.npz"
    flipped.write_bytes(bytes(data))
    photo = tmp_path / "cat.jpg"
    Image.new("RGB", (8, 8)).save(photo, "JPEG")
    for command in (["evaluate", str(flipped)], ["predict", str(photo), str(photo)]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and "allow_pickle" not in err, err
        assert err.startswith(f"tinyalex {command[0]}: error: {command[1]} ")


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    model = tiny_alexnet()
    state = model.state_dict()
    state["fc8.bias"] = np.zeros(3, np.float32)
    path = save_checkpoint(tmp_path / "bad.npz", state, {}, {"model": model.config, "epoch": 0})
    with pytest.raises(CheckpointError, match="fc8.bias"):
        load_model(path)
