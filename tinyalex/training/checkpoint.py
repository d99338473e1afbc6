"""Checkpoints: everything needed to resume training exactly, or to rebuild the model for evaluation.

One ``.npz`` file, written atomically (temporary file, then rename), loaded without pickle:

* ``model/<name>``       the model's state_dict (NumPy arrays)
* ``velocity/<i>``       MomentumSGD's velocity of the i-th parameter
* ``data/mean``          the training mean image (size x size x 3), when known
* ``meta``               one JSON string: format, epoch and batch reached, model config,
                         optimiser groups, schedule state, every Dropout layer's seed and
                         step, the loader's seed, the history so far, and the data description
"""
from __future__ import annotations

import errno
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from tinyalex.data import atomic
from tinyalex.layers import Dropout, Module
from tinyalex.models import AlexNet

FORMAT = "tinyalex-checkpoint-v1"
EXPECTED = "a tinyalex checkpoint (an .npz file written by `tinyalex train`)"
# First bytes of files people pass by mistake, and what they are.
SIGNATURES = {
    b"\xff\xd8\xff": "a JPEG image", b"\x89PNG": "a PNG image", b"GIF8": "a GIF image",
    b"\x93NUMPY": "a single NumPy array (.npy)", b"\x80": "a Python pickle (e.g. an old PyTorch .pth)",
}


class CheckpointError(ValueError):
    """A file is not a tinyalex checkpoint, or does not fit the model it is loaded into."""


class CheckpointWriteError(CheckpointError):
    """A file of the run could not be written (full disk, no permission); the previous one is intact."""


def dropout_states(model: Module) -> dict[str, Any]:
    """Name -> {"seed", "step"} of every Dropout layer: what its next masks depend on."""
    return {name: {"seed": layer.seed, "step": layer.step} for name, layer in _dropouts(model)}


def load_dropout_states(model: Module, states: dict[str, Any]) -> None:
    """Give every Dropout layer its saved seed and step, so that resumed masks continue the sequence."""
    layers = dict(_dropouts(model))
    if set(layers) != set(states):
        raise CheckpointError(f"checkpoint has dropout states for {sorted(states)}, the model has {sorted(layers)}")
    for name, state in states.items():
        if set(state) != {"seed", "step"}:
            raise CheckpointError(
                f"the checkpoint's state of dropout layer {name} is {sorted(state)}, expected seed and step: it was "
                "written by an older tinyalex whose masks came from another generator, so the run cannot be "
                "resumed exactly (evaluate and predict still work)"
            )
        layers[name].seed, layers[name].step = int(state["seed"]), int(state["step"])


def _dropouts(model: Module) -> list[tuple[str, Dropout]]:
    found = []

    def walk(module: Module, prefix: str) -> None:
        for name, child in module.named_children():
            if isinstance(child, Dropout):
                found.append((prefix + name, child))
            walk(child, f"{prefix}{name}.")

    walk(model, "")
    return found


def save_checkpoint(path: str | os.PathLike, model_state: dict[str, np.ndarray], velocities: dict[int, np.ndarray],
                    meta: dict[str, Any], mean: np.ndarray | None = None) -> Path:
    """Write one checkpoint file atomically; returns its path. Raises CheckpointWriteError when the
    file cannot be written: the previous checkpoint under that name is kept, no temporary file is."""
    path = Path(path)
    arrays = {f"model/{name}": value for name, value in model_state.items()}
    arrays.update({f"velocity/{i}": value for i, value in velocities.items()})
    if mean is not None:
        arrays["data/mean"] = np.asarray(mean, dtype=np.float32)
    arrays["meta"] = np.array(json.dumps({"format": FORMAT, **meta}))
    try:
        atomic.write_npz(path, **arrays)
    except OSError as exc:
        raise write_error(path, exc) from None
    return path


def write_error(path: Path, exc: OSError) -> CheckpointWriteError:
    """The error for a file of the run that could not be written, saying what was kept."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += f" ({path.parent} is full: free some space)"
    kept = f"the previous {path.name} is unchanged" if path.exists() else f"no {path.name} was written"
    return CheckpointWriteError(f"could not write {path}: {reason}; {kept}")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """{"meta": dict, "model": state_dict, "velocities": {i: array}, "mean": array or None}.

    Raises CheckpointError naming the file and what is wrong with it: missing, not a checkpoint
    (another kind of file), or damaged (truncated, or bytes changed since it was written: every
    entry carries a CRC-32 that is checked on reading).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint (a run folder holds best.npz and last.npz)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(8)
    if not head.startswith(b"PK\x03\x04"):  # every .npz is a zip file
        kind = next((k for sig, k in SIGNATURES.items() if head.startswith(sig)), None)
        what = "it is empty" if not head else f"it is {kind}" if kind else "it is not a zip/.npz file"
        raise CheckpointError(f"{path} is not {EXPECTED}: {what}")
    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            if "meta" not in names:
                if f.zip.testzip() is not None:  # a damaged entry name reads as another entry
                    raise CheckpointError(f"{path} is damaged (an entry fails its CRC-32 check): it may be "
                                          f"truncated or corrupted; expected {EXPECTED}")
                torch = any(name.endswith("data.pkl") for name in f.zip.namelist())
                what = "it looks like a PyTorch file (torch.save)" if torch else \
                    f"it has no 'meta' entry (it holds {', '.join(names[:5]) or 'nothing'}{', ...' if len(names) > 5 else ''})"
                raise CheckpointError(f"{path} is not {EXPECTED}: {what}")
            arrays = {key: f[key] for key in names}
    except CheckpointError:
        raise
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise CheckpointError(f"{path} is damaged ({exc}): it may be truncated or corrupted; expected "
                                  f"{EXPECTED}") from None
        raise CheckpointError(f"{path} is not {EXPECTED}: it holds pickled Python objects") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path} is damaged ({exc}): it may be truncated or corrupted; expected "
                              f"{EXPECTED}") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except ValueError as exc:
        raise CheckpointError(f"{path} is damaged: its 'meta' entry is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path} has format {found!r}, expected {FORMAT!r}")
    return {
        "meta": meta,
        "model": {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")},
        "velocities": {int(k[len("velocity/"):]): v for k, v in arrays.items() if k.startswith("velocity/")},
        "mean": arrays.get("data/mean"),
    }


def check_same_model(path: str | os.PathLike, saved: dict[str, Any] | None, config: dict[str, Any] | None) -> None:
    """Raise CheckpointError when a checkpoint's model config differs from the model it is loaded into."""
    if saved is None or config is None or saved == config:
        return
    differences = ", ".join(f"{key} {saved.get(key)!r} (this model: {config.get(key)!r})"
                            for key in sorted(set(saved) | set(config)) if saved.get(key) != config.get(key))
    raise CheckpointError(f"{path} is a checkpoint of another model: {differences}")


def data_of(path: str | os.PathLike, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The data description and mean image a checkpoint needs for evaluate and predict, or CheckpointError."""
    info = checkpoint["meta"].get("data")
    needed = ("wnids", "size", "crop")
    if not isinstance(info, dict) or any(key not in info for key in needed) or checkpoint["mean"] is None:
        raise CheckpointError(f"{path} does not describe its data (classes, image size, mean image): evaluate and "
                              "predict need a checkpoint written by `tinyalex train`")
    return info


def load_model(path: str | os.PathLike, device: str = "cpu") -> tuple[AlexNet, dict[str, Any]]:
    """Rebuild the saved AlexNet from its config, load its weights, move it to ``device`` in eval mode.

    Returns the model and the whole checkpoint (see ``load_checkpoint``).
    """
    checkpoint = load_checkpoint(path)
    config = checkpoint["meta"].get("model")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} holds the weights of a model without an AlexNet config: rebuild that "
                              "model yourself and load them with Trainer.restore")
    try:
        model = AlexNet(**config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its model config {config} does not build an AlexNet ({exc})") from None
    try:
        model.load_state_dict(checkpoint["model"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: the weights do not fit the saved model config ({exc})") from None
    return model.to(device).eval(), checkpoint
