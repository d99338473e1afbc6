"""`tinyalex train`: train AlexNet on the embedded default, a prepared subset or an ImageNet-layout folder."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from tinyalex.backend import DeviceError, resolve_device, to_device
from tinyalex.cli.options import add_device, folder_problem, integer, number
from tinyalex.data import atomic
from tinyalex.data.errors import DataError
from tinyalex.data.loader import DataLoader
from tinyalex.models import PAPER_INPUT_SIZE, SMALL_INPUT_SIZE, AlexNet, alexnet_small, decay_groups
from tinyalex.optim import MomentumSGD, ReduceLROnPlateau
from tinyalex.training import CheckpointError, NonFiniteLossError, Trainer, load_checkpoint, open_datasets
from tinyalex.training.checkpoint import CheckpointWriteError, write_error
from tinyalex.training.interrupt import raise_interrupted
from tinyalex.training.metrics import TOP5_NOTE
from tinyalex.training.trainer import best_record

# What `tinyalex train` with no options does: the small net on the embedded shapes set.
DEFAULT_EPOCHS = {"small": 20, "alexnet": 90}
DEFAULT_BATCH = {"small": 64, "alexnet": 128}
DEFAULT_INIT = {"small": "he", "alexnet": "paper"}
INPUT_SIZES = {"small": SMALL_INPUT_SIZE, "alexnet": PAPER_INPUT_SIZE}
# Options a resumed run takes from its checkpoint (the others come from this command line).
RUN_OPTIONS = ("data", "model", "batch_size", "lr", "momentum", "weight_decay", "bias_decay", "patience", "seed",
               "init")
# Run options whose default does not depend on the model (they stay None on the command line when not
# given, so that a resumed run can tell what was typed).
DEFAULTS = {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005, "bias_decay": True, "patience": 3, "seed": 0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="a folder written by `tinyalex prepare`, or an ImageNet-layout folder with "
                        "train/<class>/ and val/<class>/ (decoded every epoch, its mean image and colour covariance "
                        "estimated from 256 training images; prepare computes them over all) (default: the "
                        "embedded shapes set, generated once)")
    parser.add_argument("--out", help="the run folder: checkpoints, config.json, train.log, metrics.csv and "
                        "curves.png (default: runs/<data folder name>)")
    parser.add_argument("--model", choices=("alexnet", "small"),
                        help="the paper's net (224x224 crops) or the CPU-sized alexnet_small (64x64 crops); "
                        "default: small on the embedded data, alexnet otherwise")
    parser.add_argument("--epochs", type=integer(1), help="total epochs (default: 20 for small, 90 for alexnet; "
                        "with --resume: the run's own)")
    parser.add_argument("--batch-size", type=integer(1),
                        help="images per step (paper and default for alexnet: 128; default for small: 64)")
    parser.add_argument("--lr", type=number(0, low_inclusive=False),
                        help=f"initial learning rate (paper and default: {DEFAULTS['lr']})")
    parser.add_argument("--momentum", type=number(0, 1), help=f"0 <= m < 1 (paper and default: {DEFAULTS['momentum']})")
    parser.add_argument("--weight-decay", type=number(0),
                        help=f"paper and default: {DEFAULTS['weight_decay']}")
    parser.add_argument("--bias-decay", action=argparse.BooleanOptionalAction,
                        help="whether weight decay shrinks the biases too (default: yes, as before); the paper is "
                        "silent, and its code (cuda-convnet) decayed only the weights: --no-bias-decay")
    parser.add_argument("--patience", type=integer(1),
                        help="epochs without a lower validation error before the learning rate is divided by 10 "
                        f"(default: {DEFAULTS['patience']})")
    parser.add_argument("--init", choices=("paper", "he"),
                        help="initial weights: the paper's N(0, 0.01) with biases of 1, or He's (see "
                        "tinyalex.models.alexnet_small); default: paper for alexnet, he for small")
    add_device(parser)
    parser.add_argument("--seed", type=integer(0),
                        help=f"seeds the weights, dropout and data order (default: {DEFAULTS['seed']})")
    parser.add_argument("--workers", type=integer(0), default=2,
                        help="threads preparing batches (default: 2; 0: in the training thread)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run saved in OUT/last.npz with its own options, up to its own "
                        "--epochs unless given (only --epochs, --device, --workers, --progress and --quiet are "
                        "taken from this command line)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel training, one process per worker: mpirun -n 2 tinyalex train --distributed")
    parser.add_argument("--progress", choices=("auto", "bar", "none"), default="auto",
                        help="progress bars (bar) or only the per-epoch lines (none); default auto: bars when "
                        "the output is a terminal, lines when it goes to a file or pipe")
    parser.add_argument("--quiet", action="store_true",
                        help="print nothing but errors (OUT/train.log still gets the per-epoch lines)")


def build_model(options: dict[str, Any], num_classes: int) -> AlexNet:
    """The network `--model` names, started as `--init` says."""
    if options["model"] == "small":
        return alexnet_small(num_classes, seed=options["seed"], init=options["init"])
    return AlexNet(num_classes, seed=options["seed"], init=options["init"])


def run_options(args: argparse.Namespace, out: Path, notes: list[str]) -> dict[str, Any]:
    """The options that define the run: from the command line, or from the checkpoint when resuming
    (then each option typed with a different value is named in `notes` as ignored)."""
    options = {name: getattr(args, name) for name in RUN_OPTIONS}
    if options["data"] is not None:  # absolute, so that --resume works from any folder
        options["data"] = str(Path(options["data"]).resolve())
    saved = (load_checkpoint(out / "last.npz")["meta"].get("run") or {}) if args.resume else {}
    if args.resume:
        saved.setdefault("bias_decay", True)  # runs saved before --bias-decay existed decayed the biases
        moved = saved.get("data") is not None and options["data"] is not None and not Path(saved["data"]).exists()
        if moved:  # the folder was moved (or renamed): the run continues on its new place
            notes.append(f"note: the run's data {saved['data']} no longer exists: continuing with --data "
                         f"{options['data']}")
            saved["data"] = options["data"]
        for name in RUN_OPTIONS:
            if name in saved and options[name] is not None and options[name] != saved[name]:
                flag = "--" + name.replace("_", "-")
                notes.append(f"note: {flag} {getattr(args, name)} ignored: --resume continues the run with its "
                             f"own options ({flag} {saved[name]}); start a new run with another --out to change them")
        options.update({name: saved[name] for name in RUN_OPTIONS if name in saved})
    for name, value in DEFAULTS.items():
        if options[name] is None:
            options[name] = value
    if options["model"] is None:
        options["model"] = "small" if options["data"] is None else "alexnet"
    if options["batch_size"] is None:
        options["batch_size"] = DEFAULT_BATCH[options["model"]]
    if options["init"] is None:  # each model's own start (see alexnet_small), named so that config.json says it
        options["init"] = DEFAULT_INIT[options["model"]]
    # the total to reach: a resumed run keeps its own unless --epochs is given
    options["epochs"] = args.epochs or saved.get("epochs") or DEFAULT_EPOCHS[options["model"]]
    return options


def communicator_for(args: argparse.Namespace) -> Any:
    if not args.distributed:
        return None
    try:
        from tinyalex.parallel.distributed import from_environment
    except ImportError as exc:
        raise DeviceError(f"distributed support not available: {exc}") from None
    communicator = from_environment(args.device)
    if communicator is None:
        raise DeviceError("--distributed needs one process per worker, started by an MPI launcher: "
                          "mpirun -n 2 tinyalex train --distributed ...")
    return communicator


def open_data(options: dict[str, Any], crop: int, communicator: Any, device: str, progress: bool) -> tuple:
    """`open_datasets`, run by worker 0 first when distributed (the others wait for it), so that no
    two processes generate or prepare the same files at once."""
    if communicator is None:
        return open_datasets(options["data"], crop, progress)
    failed = to_device(np.zeros(1, np.float32), device)
    if communicator.rank == 0:
        try:
            return open_datasets(options["data"], crop, progress)
        except BaseException:
            failed[0] = 1
            raise
        finally:
            communicator.broadcast([failed], root=0)
    communicator.broadcast([failed], root=0)
    if float(failed[0]):
        raise DataError("worker 0 could not open the data set: see its error message")
    return open_datasets(options["data"], crop, progress=False)


def show_progress_bars(choice: str) -> bool:
    """``--progress``: bars only on a terminal by default, so that logs of redirected output stay lines."""
    if choice == "auto":
        return sys.stdout.isatty() and sys.stderr.isatty()
    return choice == "bar"


def write_config(out: Path, args: argparse.Namespace, options: dict[str, Any], device: str) -> None:
    """``config.json``: every option of the run, defaults filled in (rewritten when it is resumed)."""
    others = {name: value for name, value in vars(args).items() if name != "command" and name not in options}
    config = {**options, **others, "device": device, "out": str(out)}
    path = out / "config.json"
    try:
        atomic.write_json(path, config)
    except OSError as exc:
        raise write_error(path, exc) from None


def run(args: argparse.Namespace) -> int:
    out = Path(args.out or Path("runs") / (Path(args.data).name if args.data else "shapes10"))
    if problem := folder_problem(out):  # before the data set is opened, not a traceback after
        print(f"tinyalex train: error: --out: {problem}", file=sys.stderr)
        return 2
    bars = not args.quiet and show_progress_bars(args.progress)
    quiet = args.quiet
    terminating = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():  # SIGTERM stops setup the way Ctrl-C does
        signal.signal(signal.SIGTERM, raise_interrupted)
    communicator = None
    try:
        held = [name for name in ("last.npz", "best.npz", "metrics.csv") if (out / name).exists()]
        if not args.resume and held:  # best.npz and metrics.csv alone: last.npz was deleted, the results stay
            raise CheckpointError(f"{out} already holds a run ({', '.join(held)}): continue it with --resume, or "
                                  "choose another --out (or delete that folder)")
        notes: list[str] = []
        options = run_options(args, out, notes)
        for note in notes:
            print(f"tinyalex train: {note}", file=sys.stderr)
        communicator = communicator_for(args)
        device = resolve_device(args.device)
        crop = INPUT_SIZES[options["model"]]
        with warnings.catch_warnings(record=True) as opening:  # shown once train.log can keep them too, below
            train_set, val_set, info = open_data(options, crop, communicator, device, progress=bars)
        model = build_model(options, len(info["wnids"]))
        optimizer = MomentumSGD(decay_groups(model, options["bias_decay"]), options["lr"], options["momentum"],
                                options["weight_decay"])
        schedule = ReduceLROnPlateau(optimizer, patience=options["patience"])
        loader = dict(batch_size=options["batch_size"], crop=crop, seed=options["seed"], device=device,
                      workers=args.workers, prefetch=args.workers)
        train_loader = DataLoader(train_set, train=True, **loader)
        val_loader = DataLoader(val_set, train=False, **loader)
        epochs = options["epochs"]
        quiet = args.quiet or (communicator is not None and communicator.rank != 0)
        trainer = Trainer(model, optimizer, out, schedule, device, communicator, quiet, data_info=info,
                          mean=train_set.mean, run_info=options, progress=bars)
        if trainer.writer:
            write_config(out, args, options, device)
        for note in notes:
            trainer.log(note, echo=False)
        show_warning = warnings_to(trainer)
        for warning in opening:
            show_warning(warning.message)
        # a folder's files are decoded as they are met, so how many of them are images is not known yet
        counted = "image files" if hasattr(train_set, "skipped") else "images"
        trainer.log(f"training {options['model']} ({model.num_parameters():,} parameters) on {len(train_set)} "
                    f"{counted} of {len(info['wnids'])} classes from {info['root']}, validating on {len(val_set)}; "
                    f"device {device}; writing to {out}")
        if len(info["wnids"]) <= 5:
            trainer.log(TOP5_NOTE.format(classes=len(info["wnids"])))
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            history = trainer.fit(train_loader, val_loader, epochs, resume=args.resume)
    except CheckpointWriteError as exc:
        print(f"tinyalex train: error: {exc}{resume_hint(out)}", file=sys.stderr)
        return stop_all(communicator, 1)
    except (DataError, CheckpointError, DeviceError, NonFiniteLossError, ImportError) as exc:
        print(f"tinyalex train: error: {exc}", file=sys.stderr)
        return stop_all(communicator, 1)
    except KeyboardInterrupt as exc:
        print(f"\ntinyalex train: {str(exc) or 'interrupted'}{resume_hint(out)}", file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, terminating)
    if history:
        best = best_record(history)
        trainer.log(f"done: best validation top-1 error {error_and_accuracy(best['top1_error'])} at epoch {best['epoch']}; checkpoints, metrics.csv, curves.png "
                    f"and train.log in {out}")
    return 0


def error_and_accuracy(error: float) -> str:
    """'71.2% (accuracy 28.8%)': the accuracy of the error as printed, so that the two add up to 100%."""
    error = round(error, 3)
    return f"{error:.1%} (accuracy {1 - error:.1%})"


def stop_all(communicator: Any, code: int) -> int:
    """``code``, after stopping the other workers when there are some: an error one worker meets alone (a
    full disk on the one that writes) left the others waiting in their next collective for ever."""
    if communicator is not None and communicator.size > 1:
        sys.stderr.flush()
        communicator.abort(code)
    return code


def warnings_to(trainer: Trainer) -> Callable[..., None]:
    """A `warnings.showwarning` for the run (a skipped entry, a file that turned out undecodable): one line
    on stderr, even with --quiet, and the same line in train.log."""
    def show(message: Any, *_: Any, **__: Any) -> None:
        tqdm.write(f"tinyalex train: warning: {message}", file=sys.stderr)
        trainer.log(f"warning: {message}", echo=False)

    return show


def resume_hint(out: Path) -> str:
    """How to go on after an interruption or a failed write: resume when a checkpoint exists, else start again."""
    if (out / "last.npz").is_file():
        return f"; continue with: tinyalex train --resume --out {out}"
    return "; no checkpoint was written yet: run the same command again to start over"
