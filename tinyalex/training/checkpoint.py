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

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from tinyalex.data import atomic
from tinyalex.layers import Dropout, Module
from tinyalex.models import AlexNet

FORMAT = "tinyalex-checkpoint-v1"


class CheckpointError(ValueError):
    """A file is not a tinyalex checkpoint, or does not fit the model it is loaded into."""


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
    """Write one checkpoint file atomically; returns its path."""
    path = Path(path)
    arrays = {f"model/{name}": value for name, value in model_state.items()}
    arrays.update({f"velocity/{i}": value for i, value in velocities.items()})
    if mean is not None:
        arrays["data/mean"] = np.asarray(mean, dtype=np.float32)
    arrays["meta"] = np.array(json.dumps({"format": FORMAT, **meta}))
    atomic.write_npz(path, **arrays)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """{"meta": dict, "model": state_dict, "velocities": {i: array}, "mean": array or None}."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} is not a tinyalex checkpoint ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    return {
        "meta": meta,
        "model": {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")},
        "velocities": {int(k[len("velocity/"):]): v for k, v in arrays.items() if k.startswith("velocity/")},
        "mean": arrays.get("data/mean"),
    }


def load_model(path: str | os.PathLike, device: str = "cpu") -> tuple[AlexNet, dict[str, Any]]:
    """Rebuild the saved AlexNet from its config, load its weights, move it to ``device`` in eval mode.

    Returns the model and the whole checkpoint (see ``load_checkpoint``).
    """
    checkpoint = load_checkpoint(path)
    model = AlexNet(**checkpoint["meta"]["model"])
    try:
        model.load_state_dict(checkpoint["model"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: the weights do not fit the saved model config ({exc})") from None
    return model.to(device).eval(), checkpoint
