"""The training loop: it learns, it resumes exactly, it stops cleanly on NaN, on Ctrl-C and on SIGTERM."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from training_helpers import ArrayLoader, run_workers, tiny_alexnet, toy_images

from tinyalex.functional import softmax_cross_entropy
from tinyalex.optim import MomentumSGD, ReduceLROnPlateau
from tinyalex.training import CheckpointError, NonFiniteLossError, Trainer, fit, load_checkpoint
from tinyalex.training.interrupt import Interrupted
from tinyalex.training.trainer import best_record


def loaders(n_train=48, n_val=16, batch=16, seed=0):
    x, y = toy_images(n_train + n_val, seed=1)
    train = ArrayLoader(x[:n_train], y[:n_train], batch, seed=seed)
    val = ArrayLoader(x[n_train:], y[n_train:], batch, shuffle=False)
    return train, val


def params(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_overfits_a_small_fixed_batch_to_near_zero_loss():
    x, y = toy_images(16)
    model = tiny_alexnet(dropout=0.0)
    opt = MomentumSGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(60):
        model.zero_grad()
        loss = softmax_cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.01 < losses[0]


def test_fit_writes_history_metrics_plot_and_checkpoints(tmp_path):
    model = tiny_alexnet()
    train, val = loaders()
    history = fit(model, train, val, MomentumSGD(model.parameters()), epochs=2, out_dir=tmp_path, quiet=True)
    assert [r["epoch"] for r in history] == [1, 2]
    assert set(history[0]) >= {"train_loss", "train_accuracy", "val_loss", "top1_error", "top5_error", "lr",
                               "seconds", "images_per_s"}
    assert history[0]["top5_error"] == 0.0  # 4 classes: the label is always among the top 5
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,train_loss") and len(lines) == 3
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = load_checkpoint(tmp_path / "last.npz")["meta"]
    assert meta["epoch"] == 2 and meta["model"] == model.config and meta["history"] == history
    assert (tmp_path / "best.npz").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_best_npz_and_the_best_epoch_agree_on_a_tie(tmp_path):
    """With lr 0 every epoch validates alike: best.npz keeps the first, as the summary says (it kept the last)."""
    model = tiny_alexnet()
    train, val = loaders()
    history = fit(model, train, val, MomentumSGD(model.parameters(), lr=0.0), epochs=3, out_dir=tmp_path, quiet=True)
    assert len({(r["top1_error"], r["val_loss"]) for r in history}) == 1
    assert best_record(history)["epoch"] == 1 == load_checkpoint(tmp_path / "best.npz")["meta"]["epoch"]
    tie = [{"epoch": 1, "top1_error": 0.5, "val_loss": 0.8}, {"epoch": 2, "top1_error": 0.5, "val_loss": 0.7},
           {"epoch": 3, "top1_error": 0.5, "val_loss": 13.4}]
    assert best_record(tie)["epoch"] == 2  # the same error, the lower loss


def run(out, epochs, resume=False, schedule=True):
    model = tiny_alexnet(seed=3)
    opt = MomentumSGD(model.parameters(), lr=0.02)
    sched = ReduceLROnPlateau(opt, patience=1) if schedule else None
    train, val = loaders(seed=5)
    history = Trainer(model, opt, out, sched, quiet=True).fit(train, val, epochs, resume=resume)
    return model, opt, history


def test_resume_from_an_epoch_checkpoint_matches_an_uninterrupted_run(tmp_path):
    straight, straight_opt, straight_history = run(tmp_path / "a", 3)
    run(tmp_path / "b", 2)
    resumed, resumed_opt, resumed_history = run(tmp_path / "b", 3, resume=True)
    for name, value in params(straight).items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value, err_msg=name)
    assert resumed_opt.lr == straight_opt.lr
    def numbers(history):  # everything but the timings
        return [{k: v for k, v in r.items() if not k.endswith("seconds") and k != "images_per_s"} for r in history]

    assert numbers(resumed_history) == numbers(straight_history)


class InterruptAfter(ArrayLoader):
    """Sends this process `signum` (SIGINT is a Ctrl-C) while handing out batch `at` of epoch `epoch`."""

    def __init__(self, *args, epoch, at, signum=signal.SIGINT, **kwargs):
        super().__init__(*args, **kwargs)
        self.when, self.signum = (epoch, at), signum

    def __iter__(self):
        epoch = self.epoch
        for b, batch in enumerate(super().__iter__()):
            if (epoch, b) == self.when:
                os.kill(os.getpid(), self.signum)
            yield batch


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_saves_mid_epoch_and_resume_is_exact(tmp_path, signum):
    straight, _, straight_history = run(tmp_path / "a", 2, schedule=False)
    model = tiny_alexnet(seed=3)
    train, val = loaders(seed=5)
    interrupting = InterruptAfter(train.x, train.y, 16, seed=5, epoch=1, at=1, signum=signum)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted, match="batch 2") as stopped:
        Trainer(model, MomentumSGD(model.parameters(), lr=0.02), tmp_path / "b", quiet=True).fit(
            interrupting, val, 2)
    assert stopped.value.signum == signum
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # handed back
    meta = load_checkpoint(tmp_path / "b" / "last.npz")["meta"]
    assert meta["epoch"] == 1 and meta["partial"]["batch"] == 2
    resumed, _, history = run(tmp_path / "b", 2, resume=True, schedule=False)
    for name, value in params(straight).items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value, err_msg=name)
    assert history[-1]["train_loss"] == pytest.approx(straight_history[-1]["train_loss"], rel=1e-12)


# Trains 2 epochs with fit() (no command line, so SIGTERM's handler is the default one that kills): a SIGTERM
# at batch 2 of epoch 2, and another one while the checkpoint it asked for is half written.
SECOND_SIGTERM = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import numpy as np
from training_helpers import ArrayLoader, tiny_alexnet, toy_images
from tinyalex.optim import MomentumSGD
from tinyalex.training import Trainer
from tinyalex.training.interrupt import Interrupted
from tinyalex.training.trainer import best_record

class Signalling(ArrayLoader):
    def __iter__(self):
        epoch = self.epoch
        for b, batch in enumerate(super().__iter__()):
            if (epoch, b) == (1, 1):
                os.kill(os.getpid(), signal.SIGTERM)
            yield batch

savez, out = np.savez, Path(sys.argv[2])
def half_then_signal(file, **arrays):
    if Path(file.name).name.startswith(".last.npz") and trainer.partial is not None:
        file.write(bytes(100_000))
        os.kill(os.getpid(), signal.SIGTERM)
    savez(file, **arrays)
np.savez = half_then_signal

x, y = toy_images(64, seed=1)
model = tiny_alexnet(seed=3)
trainer = Trainer(model, MomentumSGD(model.parameters(), lr=0.02), out, quiet=True)
try:
    trainer.fit(Signalling(x[:48], y[:48], 16, seed=5), ArrayLoader(x[48:], y[48:], 16, shuffle=False), 2)
except Interrupted as stop:
    print("stopped:", stop, stop.signum == signal.SIGTERM)
print("left:", sorted(p.name for p in out.iterdir()))
"""


def test_a_second_sigterm_while_saving_stops_at_once_and_removes_the_half_written_file(tmp_path):
    result = subprocess.run([sys.executable, "-c", SECOND_SIGTERM, str(Path(__file__).parent), str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr  # not killed (-15) by the default handler
    assert result.stdout.splitlines() == ["stopped: stopped at once by a second signal (SIGTERM) True",
                                          "left: ['best.npz', 'curves.png', 'last.npz', 'metrics.csv', 'train.log']"]
    assert load_checkpoint(tmp_path / "last.npz")["meta"]["epoch"] == 1  # the end of epoch 1, intact
    assert "stopped at once by a second signal (SIGTERM)" in (tmp_path / "train.log").read_text()


class PoisonedLoader(ArrayLoader):
    """Gives a batch of NaN images from epoch `epoch` on."""

    def __init__(self, *args, epoch, **kwargs):
        super().__init__(*args, **kwargs)
        self.poison_epoch = epoch

    def __iter__(self):
        epoch = self.epoch
        for x, y in super().__iter__():
            yield (np.full_like(x, np.nan) if epoch >= self.poison_epoch else x), y


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    model = tiny_alexnet()
    train, val = loaders()
    poisoned = PoisonedLoader(train.x, train.y, 16, epoch=1)
    trainer = Trainer(model, MomentumSGD(model.parameters()), tmp_path, quiet=True)
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at epoch 2, batch 1.*last good checkpoint"):
        trainer.fit(poisoned, val, 3)
    saved = load_checkpoint(tmp_path / "last.npz")
    assert saved["meta"]["epoch"] == 1 and len(saved["meta"]["history"]) == 1
    for name, value in model.state_dict().items():  # the poisoned update was not applied
        np.testing.assert_array_equal(saved["model"][name], value)
        assert np.isfinite(value).all()
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 2


def test_resuming_writes_the_best_checkpoint_a_full_disk_stopped(tmp_path):
    """best.npz was lost for good: --resume rewrote metrics.csv and curves.png, never best.npz."""
    model, _, history = run(tmp_path, 1)
    (tmp_path / "best.npz").unlink()  # what a full disk at its write leaves
    model, _, _ = run(tmp_path, 1, resume=True)
    best = load_checkpoint(tmp_path / "best.npz")
    assert best["meta"]["epoch"] == 1 and "wrote best.npz (epoch 1)" in (tmp_path / "train.log").read_text()
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(best["model"][name], value)
    trainer = Trainer(tiny_alexnet(), MomentumSGD(tiny_alexnet().parameters()), tmp_path, quiet=True)
    trainer.history = [{"epoch": 1, "top1_error": 0.2, "val_loss": 1.0}, {"epoch": 2, "top1_error": 0.5, "val_loss": 1.0}]
    log = (tmp_path / "train.log").read_text()
    trainer._write_missing_best()
    assert (tmp_path / "train.log").read_text() == log  # best.npz holds the best epoch, 1: nothing to do
    (tmp_path / "best.npz").unlink()  # now the best epoch is not the last one, and its weights are nowhere
    trainer._write_missing_best()
    assert "its weights are gone; best.npz holds nothing until an epoch beats it" in (tmp_path / "train.log").read_text()
    assert not (tmp_path / "best.npz").exists()


def test_a_nan_validation_loss_stops_and_keeps_the_epoch_before(tmp_path):
    """A finite training loss, then NaN scores on the validation set: the broken net became last.npz and best.npz."""
    model = tiny_alexnet()
    train, val = loaders()
    poisoned = PoisonedLoader(val.x, val.y, 16, shuffle=False, epoch=1)
    trainer = Trainer(model, MomentumSGD(model.parameters()), tmp_path, quiet=True)
    with pytest.raises(NonFiniteLossError, match=r"the validation loss became nan after epoch 2 \(learning rate "
                                                 r"0.01\); this epoch's weights were not saved and the last good "
                                                 r"checkpoint is .*last.npz \(end of epoch 1\)"):
        trainer.fit(train, poisoned, 3)
    for name in ("last.npz", "best.npz"):
        assert load_checkpoint(tmp_path / name)["meta"]["epoch"] == 1
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 2


def test_resume_refuses_a_missing_checkpoint_or_another_seed(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        run(tmp_path, 1, resume=True)
    run(tmp_path, 1)
    model = tiny_alexnet(seed=3)
    train, val = loaders(seed=6)
    with pytest.raises(CheckpointError, match="same seed"):
        Trainer(model, MomentumSGD(model.parameters()), tmp_path, quiet=True).fit(train, val, 2, resume=True)


def test_schedule_stop_ends_training_early(tmp_path):
    model = tiny_alexnet()
    opt = MomentumSGD(model.parameters(), lr=1e-12)  # too small to move: validation error never improves
    sched = ReduceLROnPlateau(opt, patience=1, min_lr=0.0, max_reductions=1)
    train, val = loaders()
    history = fit(model, train, val, opt, epochs=10, out_dir=tmp_path, schedule=sched, quiet=True)
    assert len(history) == 3 and sched.stop  # best, plateau -> reduce, plateau -> stop
    model = tiny_alexnet()
    opt = MomentumSGD(model.parameters(), lr=1e-12)
    train, val = loaders()
    again = Trainer(model, opt, tmp_path, ReduceLROnPlateau(opt, patience=1, min_lr=0.0, max_reductions=1), quiet=True)
    assert len(again.fit(train, val, 20, resume=True)) == 3  # a larger --epochs does not go on
    log = (tmp_path / "train.log").read_text()
    assert "nothing to train: the schedule ended this run (validation error stopped improving after 1 " \
           "learning-rate reduction); to train on, start a new run" in log and "pass --epochs" not in log


def test_data_parallel_workers_match_one_worker_on_the_whole_batch(tmp_path):
    def train(out, communicator=None):
        model = tiny_alexnet(dropout=0.0)
        train_loader, val_loader = loaders(batch=16)
        history = fit(model, train_loader, val_loader, MomentumSGD(model.parameters(), lr=0.02), epochs=2,
                      out_dir=out, communicator=communicator, quiet=True)
        return model, history

    single, single_history = train(tmp_path / "single")
    results = run_workers(2, lambda communicator: train(tmp_path / "dp", communicator))
    for rank in range(2):
        model, history = results[rank]
        for name, value in params(single).items():
            np.testing.assert_allclose(model.state_dict()[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
        assert history[-1]["top1_error"] == single_history[-1]["top1_error"]
        assert history[-1]["train_loss"] == pytest.approx(single_history[-1]["train_loss"], rel=1e-4)
    assert (tmp_path / "dp" / "last.npz").is_file()
