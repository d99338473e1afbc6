"""What LRN does in this network: how large alpha * sum(a^2) is against k, LRN's mean gain, and the
constants the paper's net actually ran with.

LRN (Section 3.3) computes b = a / (k + alpha * sum_window a^2)^beta over a window of n = 5 maps. When
alpha * sum(a^2) is far below k, the divisor is k^beta everywhere and LRN is a constant gain
k^-beta (2^-0.75 = 0.595 for k = 2): it scales the signal and normalises nothing. With alexnet_small's
unit-scale inputs that is the case (``measure_range`` prints it), so ``no_lrn`` against the baseline
mostly measures a change of signal scale. The controls (experiments.variants):

* ``lrn_gain`` replaces each LRN by a fixed gain, the mean of b/a (over a != 0) that layer had on a
  training batch at initialisation (``measure_gain``). baseline - lrn_gain is what normalisation
  buys; lrn_gain - no_lrn is the gain alone.
* ``lrn_convnet`` and ``lrn_caffe`` use the constants that the paper's code and its translations ran
  with (below): alpha 5 times smaller than printed, and k = 2 or 1.
* ``lrn_pixels`` makes LRN see alpha * sum(a^2) as on mean-subtracted 0..255 pixels, the scale the
  paper fed (alpha / input_scale^2: see ``experiments.ablation.build_model``); there it is no longer
  negligible against k (`tinyalex ablate --lrn-range` prints its median and 95th percentile per
  layer; docs/RESULTS.md gives them for the shapes set). ``lrn_pixels_gain`` is its gain control; without LRN the net is ``no_lrn`` at any scale.

Which of these the paper's claim is about: its 1.4 / 1.2 points compare the paper's net with and
without its LRN layers (``no_lrn`` against the baseline) on 0..255 pixels with the constants its
code ran with. Its explanation, though, is normalisation ("lateral inhibition", "competition for big
activities"): that part is the baseline against ``lrn_gain``, and at the paper's input scale
``lrn_pixels`` against ``lrn_pixels_gain``. Where alpha * sum(a^2) << k, no resolved difference between
LRN and its gain control is expected. What the paper's trained net saw is not published; at
initialisation its N(0, 0.01) weights give small values too (see docs/RESULTS.md for alexnet_small
started the paper's way on 0..255 pixels), so LRN can only have normalised once training had grown the
activations.

The constants, from public sources:

* The paper prints k = 2, n = 5, alpha = 1e-4, beta = 0.75, with alpha multiplying the sum.
* cuda-convnet, the paper's code (Google Code svn, mirrored at github.com/dnouri/cuda-convnet, commit
  6627f67, July 2012): ``layer.py``'s NormLayerParser divides the configured scale by the window size
  for cross-map normalisation (``dic['scale'] /= dic['size']``), and the kernel in
  ``src/cudaconv2/conv_util.cu`` computes ``1 + addScale * sum``: k = 1, with no option to change it.
* cuda-convnet2 (github.com/akrizhevsky/cuda-convnet2, 2014) keeps that division and adds ``minDiv``
  (k, default 1); its ImageNet layer files (``layers/layer-params-imagenet-1gpu.cfg`` and the multi-GPU
  ones) set ``scale=0.0001``, ``pow=0.75``, ``minDiv=2`` with ``size=5``: alpha = 2e-5 on the sum, k = 2.
* Decaf (github.com/UCBAIR/decaf-release, ``decaf/util/translator/translator_cmrnorm.py``) translates
  cmrnorm with k hard-coded to 1, "different from Krizhevsky's NIPS paper but matches the actual cuda
  convnet code". Caffe's ``models/bvlc_alexnet/train_val.prototxt`` (github.com/BVLC/caffe) sets
  local_size 5, alpha 0.0001, beta 0.75 and leaves k at its default of 1 (``caffe.proto``), and
  Caffe divides alpha by local_size (``lrn_layer.cpp``): alpha = 2e-5 on the sum, k = 1.

So the printed alpha is the configured scale and the net ran with 1e-4 / 5 on the sum; k = 2 as
printed appears in cuda-convnet2's ImageNet configurations, while the 2012 public code and the
Caffe/Decaf translations have k = 1. ``lrn_convnet`` is the first reading, ``lrn_caffe`` the second.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex.backend import to_cpu
from tinyalex.engine.tensor import Tensor, no_grad
from tinyalex.layers import LocalResponseNorm, Module, Scale


class _Recorder(Module):
    """Runs ``layer`` and keeps its input and output as float64 NumPy arrays."""

    def __init__(self, layer: Module):
        self.layer, self.seen = layer, None

    def forward(self, x):
        y = self.layer(x)
        self.seen = tuple(np.asarray(to_cpu(t.data if isinstance(t, Tensor) else t), np.float64) for t in (x, y))
        return y


def norm_layers(model: Module) -> list[tuple[str, Module]]:
    """The model's LRN layers (or the Scale layers standing in for them), by name, in forward order."""
    return [(name, layer) for name, layer in model.named_children() if isinstance(layer, (LocalResponseNorm, Scale))]


def record(model: Module, x: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Run ``model`` on ``x`` in eval mode; each LRN layer's (input a, output b), as float64 arrays."""
    layers = norm_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no LRN layers to measure (built with lrn=False?)")
    recorders = {name: _Recorder(layer) for name, layer in layers}
    was_training = model.training
    try:
        for name, recorder in recorders.items():
            setattr(model, name, recorder)
        model.eval()
        with no_grad():
            model(x)
    finally:
        for name, layer in layers:
            setattr(model, name, layer)
        model.train(was_training)
    return {name: recorder.seen for name, recorder in recorders.items()}


def window_sum_of_squares(a: np.ndarray, size: int, groups: int = 1) -> np.ndarray:
    """sum of a_j^2 over LRN's window of ``size`` maps around each map i (clipped at the edges of each
    of ``groups`` towers), for (N, C, H, W) ``a``: the sum that alpha multiplies."""
    n, c, h, w = a.shape
    if c % groups:
        raise ValueError(f"window_sum_of_squares: {c} channels do not split into {groups} towers")
    squares = (a * a).reshape(n * groups, c // groups, h, w)
    before, after = size // 2, (size - 1) // 2
    padded = np.pad(squares, ((0, 0), (before, after), (0, 0), (0, 0)))
    total = sum(padded[:, d:d + c // groups] for d in range(size))
    return total.reshape(n, c, h, w)


def measure_range(model: Module, x: Any) -> dict[str, dict[str, float]]:
    """Per LRN layer of ``model`` on the batch ``x``: alpha * sum(a^2) over all positions (median, 95th
    percentile, max) beside k, and the gain b/a where a != 0 (mean, sd): a gain with sd near 0 is a
    constant gain, not a normalisation."""
    layers = dict(norm_layers(model))
    result = {}
    for name, (a, b) in record(model, x).items():
        layer = layers[name]
        if not isinstance(layer, LocalResponseNorm):
            raise ValueError(f"{name} is a fixed gain ({layer!r}), not an LRN: measure the model it was taken from")
        s = layer.alpha * window_sum_of_squares(a, layer.size, layer.groups)
        gain = gain_of(a, b)
        result[name] = {"alpha": layer.alpha, "k": layer.k, "median": float(np.median(s)),
                        "p95": float(np.percentile(s, 95)), "max": float(s.max()),
                        "gain_mean": float(gain.mean()), "gain_sd": float(gain.std())}
    return result


def gain_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b / a at the positions where a != 0 (a ReLU's zeros carry no gain)."""
    nonzero = a != 0
    if not nonzero.any():
        raise ValueError("LRN's input is zero everywhere on this batch: its gain cannot be measured")
    return b[nonzero] / a[nonzero]


def measure_gain(model: Module, x: Any) -> list[float]:
    """The mean of b/a (over a != 0) of each LRN layer of ``model`` on the batch ``x``, in forward order:
    the gains of the ``lrn_gain`` control (AlexNet's ``lrn_gain`` argument)."""
    return [float(gain_of(a, b).mean()) for a, b in record(model, x).values()]
