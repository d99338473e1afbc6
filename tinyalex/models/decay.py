"""Which parameters weight decay shrinks: all of them, or the weights only (a switch the paper leaves open).

Section 5 gives the update with "weight decay of 0.0005" and does not say whether biases are decayed.
The paper's own code did not decay them: cuda-convnet (2012) builds every layer's biases with a weight
cost of 0 (src/layer.cu: ``new Weights(hBiases, hBiasesInc, epsB, 0, momB, true)``), cuda-convnet2's
ImageNet configs set ``wball=0`` beside ``wc=0.0005``, and Caffe's bvlc_alexnet gives biases
``decay_mult: 0``. tinyalex decays everything by default (as it always has); ``bias_decay=False`` is
cuda-convnet's choice.
"""
from __future__ import annotations

from typing import Any

from tinyalex.layers import Module


def decay_groups(model: Module, bias_decay: bool = True) -> list[Any]:
    """MomentumSGD's ``params`` for ``model``: all parameters as one group when biases are decayed, else
    two groups, the weights with the optimiser's weight decay and the biases (parameters named
    ``bias``) with none."""
    named = list(model.named_parameters())
    if bias_decay:
        return [p for _, p in named]
    biases = [p for name, p in named if name == "bias" or name.endswith(".bias")]
    weights = [p for _, p in named if not any(p is b for b in biases)]
    return [group for group in ({"params": weights}, {"params": biases, "weight_decay": 0.0}) if group["params"]]
