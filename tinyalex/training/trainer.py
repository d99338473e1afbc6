"""The training loop: minibatch SGD on the softmax cross-entropy, validated and checkpointed every epoch.

Files written to ``out_dir`` (by worker 0 only when training is distributed):

* ``last.npz``     the checkpoint after the latest epoch (or at a Ctrl-C, mid-epoch)
* ``best.npz``     the checkpoint with the lowest validation top-1 error so far (`best_record`)
* ``metrics.csv``  one row per epoch (see ``metrics.COLUMNS``)
* ``curves.png``   loss and error curves, learning-rate changes marked
* ``train.log``    the per-epoch lines and events (start, resume, learning-rate changes, interruptions,
                   errors), time-stamped; written even when nothing is printed
"""
from __future__ import annotations

import json
import math
import os
import time
import zipfile
from datetime import datetime
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from tinyalex.backend import resolve_device, to_device
from tinyalex.data import atomic
from tinyalex.functional import softmax_cross_entropy
from tinyalex.layers import Module
from tinyalex.optim import MomentumSGD, ReduceLROnPlateau
from tinyalex.training.checkpoint import (
    CheckpointError,
    check_same_model,
    dropout_states,
    load_checkpoint,
    load_dropout_states,
    save_checkpoint,
    write_error,
)
from tinyalex.parallel.data_parallel import (
    average_gradients,
    global_rows,
    set_first_row,
    skip_dropout,
    worker_batches,
)
from tinyalex.training.evaluate import evaluate, sum_over_workers
from tinyalex.training.interrupt import DeferredInterrupt, Interrupted
from tinyalex.training.metrics import topk_wrong, write_metrics_csv
from tinyalex.training.plots import plot_history


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the parameters were not updated with it."""



def saved_epoch(path: Path) -> int | None:
    """The epoch of the checkpoint at ``path``, reading its meta entry only; None if there is none to read."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return int(json.loads(str(f["meta"]))["epoch"])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None


def best_record(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The epoch best.npz holds: the lowest validation top-1 error; on a tie the lower validation loss,
    then the earlier epoch (a later epoch with the same error but a higher loss is no better)."""
    return min(history, key=lambda r: (r["top1_error"], r["val_loss"], r["epoch"]))


class Trainer:
    """Holds a model, its optimiser and schedule, and runs epochs of training and validation.

    ``communicator`` (optional) makes this one worker of data-parallel training: it needs
    ``rank``, ``size``, ``allreduce_sum(arrays)`` (in place) and ``broadcast(arrays, root=0)``.
    Each worker then takes the contiguous shard ``rank`` of every global batch (a DataLoader
    loads only that shard), gradients are averaged over workers, weighted by their rows, before
    each update, and only worker 0 prints and writes files.

    ``data_info`` (a JSON-able description of the data, see ``datasets.open_datasets``), ``mean``
    (the training mean image) and ``run_info`` (e.g. the command-line options) are stored in every
    checkpoint so that ``evaluate``, ``predict`` and ``--resume`` can rebuild the run.

    ``quiet`` prints nothing (``train.log`` is still written); ``progress`` draws progress bars
    (default: unless quiet); without bars the per-epoch lines are printed alone, fit for log files.
    """

    def __init__(self, model: Module, optimizer: MomentumSGD, out_dir: str | os.PathLike | None = None,
                 schedule: ReduceLROnPlateau | None = None, device: str | None = "cpu", communicator: Any = None,
                 quiet: bool = False, callbacks: Sequence[Callable[[dict], Any]] = (),
                 data_info: dict | None = None, mean: np.ndarray | None = None, run_info: dict | None = None,
                 progress: bool | None = None):
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.optimizer, self.schedule, self.communicator = optimizer, schedule, communicator
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.writer = communicator is None or communicator.rank == 0
        self.show = self.writer and not quiet
        self.bars = self.show and (progress if progress is not None else True)
        self.callbacks = list(callbacks)
        self.data_info, self.mean, self.run_info = data_info, mean, run_info
        self.history: list[dict[str, Any]] = []
        self.epoch = 0  # epochs completed
        self.partial: dict[str, Any] | None = None  # progress into the next epoch, set by a Ctrl-C
        self.loader_seed: int | None = None
        self.stop_reason: str | None = None
        if self.out_dir is not None and self.writer:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            for stale in atomic.remove_stale(self.out_dir):
                self.log(f"removed {stale.name}, left by an earlier run that was killed while writing")

    @property
    def last_path(self) -> Path | None:
        return self.out_dir / "last.npz" if self.out_dir is not None else None

    # --- the loop -------------------------------------------------------------------------
    def fit(self, train_loader: Any, val_loader: Any, epochs: int, resume: bool = False) -> list[dict[str, Any]]:
        """Train until ``epochs`` epochs are done in all (or the schedule says stop); returns the history.

        ``resume=True`` first restores ``out_dir/last.npz``: the run then continues exactly as an
        uninterrupted one with the same seed would have. Raises NonFiniteLossError on a NaN/inf loss
        (the files of the last finished epoch are kept) and ``Interrupted`` (a KeyboardInterrupt) after
        saving on Ctrl-C or SIGTERM, or at once, saving nothing more, on a second one.
        """
        self.loader_seed = getattr(train_loader, "seed", None)
        if resume:
            if self.last_path is None or not self.last_path.is_file():
                raise CheckpointError(f"nothing to resume: no checkpoint at {self.last_path}")
            self.restore(self.last_path)
            where = (f"in epoch {self.epoch + 1} after batch {self.partial['batch']}" if self.partial
                     else f"after epoch {self.epoch}")
            self.log(f"resumed {where} from {self.last_path}")
            if self.stop_reason is not None:  # a larger --epochs would not change that
                self.log(f"nothing to train: the schedule ended this run ({self.stop_reason}); "
                         "to train on, start a new run")
            elif self.epoch >= epochs:
                trained = f"{self.epoch} epoch{'s' * (self.epoch != 1)}"
                self.log(f"nothing to train: it has trained {trained} and was asked for {epochs} in all; "
                         f"pass --epochs {self.epoch + 1} or more to go on")
            if self.history:  # a full disk may have stopped them after the checkpoint, at the last epoch too
                self._write_missing_best()
                self._write_reports()
        if self.communicator is not None:
            self.communicator.broadcast([p.data for p in self.model.parameters()], root=0)
        with DeferredInterrupt() as interrupt:
            try:
                while self.epoch < epochs and self.stop_reason is None:
                    self._epoch(train_loader, val_loader, epochs, interrupt)
            except Interrupted as stop:
                if interrupt.again:  # perhaps in the middle of a write: say so in train.log if it can be said
                    try:
                        self.log(f"{stop}: a file being written then was abandoned and the previous one kept",
                                 echo=False)
                    except CheckpointError:
                        pass
                raise
        return self.history

    def _epoch(self, train_loader: Any, val_loader: Any, epochs: int, interrupt: DeferredInterrupt) -> None:
        done = {"batch": 0, "loss_sum": 0.0, "correct": 0, "images": 0, "seconds": 0.0, "data_seconds": 0.0,
                "compute_seconds": 0.0, **(self.partial or {})}
        if self.partial and self.communicator is not None and self.communicator.rank != 0:
            done.update(loss_sum=0.0, correct=0, images=0)  # the saved sums are every worker's: counted once
        self.partial = None
        for loader in (train_loader, val_loader):
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(self.epoch)
        self.model.train()
        bar = tqdm(total=len(train_loader), initial=done["batch"], desc=f"epoch {self.epoch + 1}/{epochs}",
                   unit="batch", leave=False, disable=not self.bars)
        start = time.perf_counter() - done["seconds"]
        waiting_since = time.perf_counter()
        for b, (x, y) in enumerate(worker_batches(train_loader, self.communicator)):
            arrived = time.perf_counter()
            waited = arrived - waiting_since
            if b < done["batch"]:  # resuming mid-epoch: this batch was trained on before the interruption
                waiting_since = arrived
                continue
            loss, correct, n, stop = self._step(x, y, b, interrupt)
            waiting_since = time.perf_counter()
            done.update(batch=b + 1, loss_sum=done["loss_sum"] + loss * n, correct=done["correct"] + correct,
                        images=done["images"] + n, data_seconds=done["data_seconds"] + waited,
                        compute_seconds=done["compute_seconds"] + waiting_since - arrived)
            seconds = waiting_since - start
            bar.update(1)
            bar.set_postfix(loss=f"{done['loss_sum'] / done['images']:.3f}",
                            acc=f"{done['correct'] / done['images']:.1%}", img_s=f"{done['images'] / seconds:.0f}")
            if stop:  # every worker stops at this batch (the request is agreed on in _worker_step)
                bar.close()
                sums = [done["loss_sum"], done["correct"], done["images"]]
                if self.communicator is not None:  # the checkpoint holds the whole batch's sums, not rank 0's
                    sums = sum_over_workers(sums, self.communicator, self.device)
                self.partial = {**done, "loss_sum": sums[0], "correct": int(sums[1]), "images": int(sums[2]),
                                "seconds": seconds}
                self._save_interrupted(interrupt.signum)
        bar.close()
        train_end = time.perf_counter()
        loss_sum, correct, images = done["loss_sum"], done["correct"], done["images"]
        if self.communicator is not None:
            loss_sum, correct, images = sum_over_workers([loss_sum, correct, images], self.communicator, self.device)
        val = evaluate(self.model, val_loader, self.device, self.communicator, progress=self.bars, desc="validate")
        if not math.isfinite(val["loss"]):  # the epoch's last updates broke the net: keep the epoch before
            raise self._diverged(f"the validation loss became {val['loss']} after epoch {self.epoch + 1}",
                                 "this epoch's weights were not saved")
        end = time.perf_counter()
        record = {
            "epoch": self.epoch + 1, "train_loss": loss_sum / images, "train_accuracy": correct / images,
            "val_loss": val["loss"], "top1_error": val["top1_error"], "top5_error": val["top5_error"],
            "lr": self.optimizer.lr, "seconds": end - start, "images_per_s": images / (train_end - start),
            "data_seconds": done["data_seconds"], "compute_seconds": done["compute_seconds"],
            "val_seconds": end - train_end,
        }
        self.history.append(record)
        self.epoch += 1
        reduced = self.schedule is not None and self.schedule.step(record["top1_error"])
        if self.schedule is not None and self.schedule.stop:
            n = self.schedule.reductions
            self.stop_reason = f"validation error stopped improving after {n} learning-rate reduction{'s' * (n != 1)}"
        self._write_outputs(record)
        self.log(format_record(record, epochs))
        if reduced:
            self.log(f"validation error stopped improving: learning rate now {self.optimizer.lr:g}")
        if self.stop_reason:
            self.log(f"stopping: {self.stop_reason}")
        for callback in self.callbacks:
            callback(record)
        requested = interrupt.requested
        if self.communicator is not None:  # agreed on, as in _worker_step: one worker alone would leave the rest waiting
            requested = sum_over_workers([float(requested)], self.communicator, self.device)[0] > 0
        if requested:  # a signal during validation: the epoch's checkpoint is already saved
            message = f"interrupted after epoch {self.epoch}; checkpoint {self.last_path}"
            self.log(message, echo=False)
            raise Interrupted(message, interrupt.signum)

    def _step(self, x: Any, y: Any, batch: int, interrupt: DeferredInterrupt) -> tuple[float, int, int, bool]:
        """One SGD update on a batch; returns (loss, correct predictions, images, stop requested)."""
        if self.communicator is not None:
            return self._worker_step(x, y, batch, interrupt)
        x, y = to_device(x, self.device), to_device(y, self.device)
        self.model.zero_grad()
        logits = self.model(x)
        loss = softmax_cross_entropy(logits, y)
        value, stop = float(loss.item()), interrupt.requested
        if not math.isfinite(value):
            raise self._diverged(f"the loss became {value} at epoch {self.epoch + 1}, batch {batch + 1}",
                                 "training stopped without applying that update")
        loss.backward()
        self.optimizer.step()
        return value, len(y) - topk_wrong(logits.data, y, 1), len(y), stop

    def _worker_step(self, x: Any, y: Any, batch: int, interrupt: DeferredInterrupt) -> tuple[float, int, int, bool]:
        """`_step` as one of several data-parallel workers, on its share of the global batch (maybe none):
        the same update as one worker on the whole batch (see parallel/data_parallel.py)."""
        x, y = to_device(x, self.device), to_device(y, self.device)
        first_row, total = global_rows(len(y), self.communicator, self.device)
        if total == 0:  # every worker's share was empty (the data set skipped every image of this batch)
            return 0.0, 0, 0, False
        self.model.zero_grad()
        value, correct = 0.0, 0
        if len(y):
            set_first_row(self.model, first_row)
            logits = self.model(x)
            loss = softmax_cross_entropy(logits, y)
            value = float(loss.item())
            loss.backward()
            correct = len(y) - topk_wrong(logits.data, y, 1)
        else:
            skip_dropout(self.model)
        # average the gradients, weighted by rows; agree on the loss and on stopping
        loss_sum, stops = average_gradients(self.model.parameters(), len(y), total, self.communicator,
                                            [value * len(y), float(interrupt.requested)])
        if not math.isfinite(loss_sum):
            raise self._diverged(f"the loss became {loss_sum / total} at epoch {self.epoch + 1}, batch {batch + 1}",
                                 "training stopped without applying that update")
        self.optimizer.step()
        return value, correct, len(y), stops > 0

    def _diverged(self, what: str, stopped: str) -> NonFiniteLossError:
        """The error for a NaN or infinite loss: ``what`` happened, ``stopped`` says what was not kept."""
        kept = (f"the last good checkpoint is {self.last_path} (end of epoch {self.epoch})"
                if self.last_path is not None and self.last_path.is_file() else "no checkpoint had been written yet")
        message = (f"{what} (learning rate {self.optimizer.lr:g}); {stopped} and {kept}. "
                   "Lower the learning rate (--lr) and train again.")
        self.log(f"error: {message}", echo=False)
        return NonFiniteLossError(message)

    # --- files ----------------------------------------------------------------------------
    def log(self, message: str, echo: bool = True) -> None:
        """Append ``message`` to ``train.log`` (worker 0, with an output folder) with the time, and print
        it unless quiet (or ``echo`` is False: the caller reports it another way)."""
        if echo and self.show:
            tqdm.write(message)
        if self.out_dir is None or not self.writer:
            return
        path = self.out_dir / "train.log"
        try:
            atomic.append_text(path, f"{datetime.now().isoformat(sep=' ', timespec='seconds')}  {message}\n")
        except OSError as exc:
            raise write_error(path, exc) from None

    def _write_outputs(self, record: dict[str, Any]) -> None:
        if self.out_dir is None or not self.writer:
            return
        self.save(self.last_path)
        if best_record(self.history) is record:
            self.save(self.out_dir / "best.npz")
        self._write_reports()

    def _write_missing_best(self) -> None:
        """On resuming, write the best epoch's checkpoint when a full disk stopped it: last.npz holds the same
        weights when that epoch is the last one (an older best epoch's weights are gone, which is said)."""
        if self.out_dir is None or not self.writer:
            return
        path, best = self.out_dir / "best.npz", best_record(self.history)
        held = saved_epoch(path)
        if held == best["epoch"]:
            return
        if best is self.history[-1] and self.partial is None:
            self.save(path)
            self.log(f"wrote {path.name} (epoch {best['epoch']}), which had not been written")
        else:
            holds = f"epoch {held}" if held is not None else "nothing"
            self.log(f"note: the best epoch so far ({best['epoch']}) could not be saved as {path.name} when it "
                     f"ran, and its weights are gone; {path.name} holds {holds} until an epoch beats it")

    def _write_reports(self) -> None:
        """metrics.csv and curves.png from the whole history (worker 0, with an output folder)."""
        if self.out_dir is None or not self.writer:
            return
        for name, write in (("metrics.csv", write_metrics_csv), ("curves.png", plot_history)):
            try:
                write(self.history, self.out_dir / name)
            except OSError as exc:
                raise write_error(self.out_dir / name, exc) from None

    def _save_interrupted(self, signum: int) -> None:
        where = "nothing was saved (no output folder)"
        if self.out_dir is not None:
            where = f"checkpoint {self.last_path}"
            if self.writer:
                self.save(self.last_path)
        message = f"interrupted in epoch {self.epoch + 1} after batch {self.partial['batch']}; {where}"
        self.log(message, echo=False)
        raise Interrupted(message, signum)

    def save(self, path: str | os.PathLike) -> Path:
        """Write everything needed to resume (or evaluate) to ``path``, atomically."""
        optimizer = self.optimizer.state_dict()
        meta = {
            "epoch": self.epoch, "partial": self.partial, "model": getattr(self.model, "config", None),
            "optimizer": {"groups": optimizer["groups"]},
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
            "dropout_rng": dropout_states(self.model), "loader_seed": self.loader_seed,
            "history": self.history, "stop_reason": self.stop_reason, "data": self.data_info, "run": self.run_info,
        }
        return save_checkpoint(path, self.model.state_dict(), optimizer["velocities"], meta, self.mean)

    def restore(self, path: str | os.PathLike) -> dict[str, Any]:
        """Load a checkpoint written by ``save`` into this trainer's model, optimiser and schedule."""
        checkpoint = load_checkpoint(path)
        meta = checkpoint["meta"]
        saved_seed = meta.get("loader_seed")
        if None not in (saved_seed, self.loader_seed) and saved_seed != self.loader_seed:
            raise CheckpointError(f"{path} was trained with data seed {saved_seed}, this loader has seed "
                                  f"{self.loader_seed}: resume with the same seed")
        check_same_model(path, meta.get("model"), getattr(self.model, "config", None))
        try:
            self.model.load_state_dict(checkpoint["model"])
        except ValueError as exc:
            raise CheckpointError(f"{path} does not fit this model: {exc}") from None
        self.optimizer.load_state_dict({"groups": meta["optimizer"]["groups"], "velocities": checkpoint["velocities"]})
        if self.schedule is not None and meta["schedule"] is not None:
            self.schedule.load_state_dict(meta["schedule"])
        load_dropout_states(self.model, meta["dropout_rng"])
        self.history, self.epoch, self.partial = meta["history"], meta["epoch"], meta["partial"]
        self.stop_reason = meta["stop_reason"]
        return checkpoint


def format_record(record: dict[str, Any], epochs: int) -> str:
    """One line per epoch: train loss and accuracy, validation loss and errors, lr, where the time went, speed."""
    split = ""
    if "data_seconds" in record:
        split = (f" (waiting for data {record['data_seconds']:.1f} s, computing {record['compute_seconds']:.1f} s, "
                 f"validating {record['val_seconds']:.1f} s)")
    return (
        f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f} "
        f"acc {record['train_accuracy']:.1%} | val loss {record['val_loss']:.4f} "
        f"top-1 err {record['top1_error']:.1%} top-5 err {record['top5_error']:.1%} | "
        f"lr {record['lr']:g} | {record['seconds']:.1f} s{split}, {record['images_per_s']:.0f} img/s"
    )


def fit(model: Module, train_loader: Any, val_loader: Any, optimizer: MomentumSGD, epochs: int,
        out_dir: str | os.PathLike | None = None, schedule: ReduceLROnPlateau | None = None,
        device: str | None = "cpu", resume: bool = False, communicator: Any = None, quiet: bool = False,
        callbacks: Sequence[Callable[[dict], Any]] = (), data_info: dict | None = None,
        mean: np.ndarray | None = None, run_info: dict | None = None,
        progress: bool | None = None) -> list[dict[str, Any]]:
    """Train ``model`` for ``epochs`` epochs and return the per-epoch history (see ``Trainer``).

    ``mean`` defaults to the training set's mean image (``train_loader.dataset.mean``) when there is one.
    """
    if mean is None:
        mean = getattr(getattr(train_loader, "dataset", None), "mean", None)
    trainer = Trainer(model, optimizer, out_dir, schedule, device, communicator, quiet, callbacks,
                      data_info, mean, run_info, progress)
    return trainer.fit(train_loader, val_loader, epochs, resume)
