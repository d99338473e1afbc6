"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012, Section 3.5 and Figure 2), built from tinyalex layers."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyalex.engine.tensor import as_tensor
from tinyalex.layers import (Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, Module, ReLU, Scale,
                             Tanh)
from tinyalex.ops.im2col import output_size
from tinyalex.ops.validate import check_images
from tinyalex.parallel.model_parallel import TowerParallelAlexNet

# Channels of conv1..conv5 and units of fc6, fc7 in the paper (both towers together).
PAPER_CHANNELS = (96, 256, 384, 384, 256)
PAPER_HIDDEN = 4096

# Biases set to 1 "to accelerate the early stages of learning by providing the ReLUs with positive inputs".
BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}
INITS = ("paper", "he")
HE_INPUT_SCALE = 1 / 64  # about one over the std of mean-subtracted pixels on the 0..255 scale

PAPER_INPUT_SIZE = 224
SMALL_INPUT_SIZE = 64  # alexnet_small's crops


def dropout_seed(seed: int, layer: int) -> int:
    """The uint32 mask seed of the dropout after fc`layer`, derived from the model's seed."""
    return int(np.random.SeedSequence([seed, layer]).generate_state(1)[0])


def _scaled(n: int, width: float, multiple: int) -> int:
    """n * width rounded to a multiple of `multiple` (so channels split evenly across towers), at least `multiple`."""
    return max(multiple, int(round(n * width / multiple)) * multiple)


class AlexNet(Module):
    """The paper's network; defaults give the two-tower net of Figure 2 with 60,965,224 parameters.

    Input: 224x224 RGB crops. The paper's arithmetic only works for 227 pixels, so conv1 gets
    padding 2 on 224 (as torchvision does) and the feature maps are 55 -> 27 (pool1) -> 27
    (conv2) -> 13 (pool2) -> 13 (conv3, conv4, conv5) -> 6 (pool5), giving fc6 256*6*6 = 9216 inputs.

    Layers (children in forward order, so state_dict names read conv1.weight ... fc8.bias):
    conv1 96 11x11/4 - act - LRN - pool 3/2; conv2 256 5x5 pad 2 - act - LRN - pool 3/2;
    conv3 384 3x3 pad 1; conv4 384 3x3 pad 1; conv5 256 3x3 pad 1 - pool 3/2;
    fc6 9216->4096 - act - dropout; fc7 4096->4096 - act - dropout; fc8 4096->num_classes.

    Two towers (`towers=2`): conv2, conv4 and conv5 use groups=2, so each reads only the half of
    the channels on its own GPU; conv3 and fc6..fc8 read both halves. LRN normalises each tower's
    maps on their own (`LocalResponseNorm(groups=2)`), as each GPU did. Output channel block t of a
    grouped conv (rows t*C/2 .. (t+1)*C/2 of its weight) is tower t, which is how a model-parallel
    version can place each tower on its own device. `towers=1` (groups=1 everywhere) is the
    single-GPU net with 62,378,344 parameters.

    Variants: `lrn=False`; `overlap_pooling=False` (pool 2/2 instead of 3/2); `dropout=0.0`;
    `activation="tanh"`; `lrn_alpha`, `lrn_k` set LRN's alpha and k (other codes' constants, see
    tinyalex.experiments.lrn); `lrn_gain=(g1, g2)` replaces norm1 and norm2 by fixed gains (Scale
    layers), the control of that study; `width` scales every conv's channels and fc6/fc7's units;
    `input_size` with `conv1_kernel`, `conv1_stride`, `conv1_padding` for smaller images (see
    `alexnet_small`).

    Initialisation, `init="paper"` (Section 5): weights from N(0, weight_std^2) with the paper's
    weight_std = 0.01; biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 in conv1, conv3, fc8.
    `init="he"` (He et al., 2015, for CPU-sized runs, see `alexnet_small`): weights from
    N(0, 2 / fan_in) in the layers that read ReLU outputs (conv2..fc7), N(0, 1 / fan_in) in conv1 and
    fc8, all biases 0. Everything, including the dropout layers' mask seeds, comes from `seed`.

    `input_scale` multiplies the input first. By default it is 1 with the paper's init (the paper
    feeds mean-subtracted pixels on the 0..255 scale) and 1/64 with He's, which assumes inputs of
    about unit size.

    `lrn_alpha`, `lrn_k` and `lrn_gain` appear in `config` only when they differ from the defaults,
    so that checkpoints written before these options existed still match their model.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        towers: int = 2,
        lrn: bool = True,
        overlap_pooling: bool = True,
        dropout: float = 0.5,
        width: float = 1.0,
        input_size: int = PAPER_INPUT_SIZE,
        activation: str = "relu",
        seed: int = 0,
        conv1_kernel: int = 11,
        conv1_stride: int = 4,
        conv1_padding: int = 2,
        weight_std: float = 0.01,
        init: str = "paper",
        input_scale: float | None = None,
        lrn_alpha: float = 1e-4,
        lrn_k: float = 2.0,
        lrn_gain: Sequence[float] | None = None,
    ):
        if towers not in (1, 2):
            raise ValueError(f"AlexNet: towers must be 1 or 2, got {towers}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"AlexNet: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if init not in INITS:
            raise ValueError(f"AlexNet: init must be one of {INITS}, got {init!r}")
        if width <= 0:
            raise ValueError(f"AlexNet: width must be positive, got {width}")
        if lrn_gain is not None:
            lrn_gain = [float(g) for g in lrn_gain]
            if not lrn or len(lrn_gain) != 2 or not all(np.isfinite(g) and g > 0 for g in lrn_gain):
                raise ValueError(f"AlexNet: lrn_gain must be two positive gains, one per LRN layer (with lrn=True), "
                                 f"got {lrn_gain} with lrn={lrn}")
        if input_scale is None:
            input_scale = 1.0 if init == "paper" else HE_INPUT_SCALE
        self.config = dict(
            num_classes=num_classes, towers=towers, lrn=lrn, overlap_pooling=overlap_pooling, dropout=dropout,
            width=width, input_size=input_size, activation=activation, seed=seed, conv1_kernel=conv1_kernel,
            conv1_stride=conv1_stride, conv1_padding=conv1_padding, weight_std=weight_std, init=init,
            input_scale=input_scale,
        )
        norm_options = {"lrn_alpha": (lrn_alpha, 1e-4), "lrn_k": (lrn_k, 2.0), "lrn_gain": (lrn_gain, None)}
        self.config.update({key: value for key, (value, default) in norm_options.items() if value != default})
        self.input_scale = input_scale
        c1, c2, c3, c4, c5 = (_scaled(n, width, towers) for n in PAPER_CHANNELS)
        hidden = _scaled(PAPER_HIDDEN, width, 1)
        pool = (3, 2) if overlap_pooling else (2, 2)
        side = self._feature_side(input_size, conv1_kernel, conv1_stride, conv1_padding, pool)
        rng = np.random.default_rng(seed)
        act = ACTIVATIONS[activation]

        def norm(layer: int) -> Module:
            if lrn_gain is not None:
                return Scale(lrn_gain[layer - 1])
            return LocalResponseNorm(alpha=lrn_alpha, k=lrn_k, groups=towers)

        def std(name: str, fan_in: int) -> float:
            if init == "paper":
                return weight_std
            return float(np.sqrt((1.0 if name in ("conv1", "fc8") else 2.0) / fan_in))

        def bias(name: str) -> float:
            return 1.0 if init == "paper" and name in BIAS_ONE else 0.0

        def conv(name, cin, cout, k, stride=1, padding=0, groups=1):
            return Conv2d(cin, cout, k, stride, padding, groups, weight_std=std(name, cin // groups * k * k),
                          bias_init=bias(name), rng=rng)

        def fc(name, fin, fout):
            return Linear(fin, fout, weight_std=std(name, fin), bias_init=bias(name), rng=rng)

        # Layers are assigned in forward order; forward() runs the children in that order.
        self.conv1 = conv("conv1", 3, c1, conv1_kernel, conv1_stride, conv1_padding)
        self.act1 = act()
        if lrn:
            self.norm1 = norm(1)
        self.pool1 = MaxPool2d(*pool)
        self.conv2 = conv("conv2", c1, c2, 5, padding=2, groups=towers)
        self.act2 = act()
        if lrn:
            self.norm2 = norm(2)
        self.pool2 = MaxPool2d(*pool)
        self.conv3 = conv("conv3", c2, c3, 3, padding=1)
        self.act3 = act()
        self.conv4 = conv("conv4", c3, c4, 3, padding=1, groups=towers)
        self.act4 = act()
        self.conv5 = conv("conv5", c4, c5, 3, padding=1, groups=towers)
        self.act5 = act()
        self.pool5 = MaxPool2d(*pool)
        self.flatten = Flatten()
        self.fc6 = fc("fc6", c5 * side * side, hidden)
        self.act6 = act()
        if dropout:
            self.drop6 = Dropout(dropout, seed=dropout_seed(seed, 6))
        self.fc7 = fc("fc7", hidden, hidden)
        self.act7 = act()
        if dropout:
            self.drop7 = Dropout(dropout, seed=dropout_seed(seed, 7))
        self.fc8 = fc("fc8", hidden, num_classes)

    @staticmethod
    def _feature_side(input_size: int, kernel: int, stride: int, padding: int, pool: tuple[int, int]) -> int:
        """Side of pool5's output for a square input; refuses inputs that shrink to nothing."""
        side = output_size(input_size, kernel, stride, padding)
        for _ in range(3):  # pool1, pool2, pool5 (conv2..conv5 keep the size)
            side = output_size(side, *pool, 0) if side >= pool[0] else 0
        if side < 1:
            raise ValueError(
                f"AlexNet: input_size {input_size} with conv1 {kernel}x{kernel}/{stride} pad {padding} leaves no "
                "pixels after pool5; use a larger input or a smaller conv1 stride"
            )
        return side

    def forward(self, x: Any) -> Any:
        """(N, 3, input_size, input_size) images -> (N, num_classes) unnormalised scores."""
        x = as_tensor(x)
        check_images("AlexNet", x.data, self.config["input_size"])
        if self.input_scale != 1.0:
            x = x * self.input_scale
        for _, layer in self.named_children():
            x = layer(x)
        return x

    def place_towers(self, devices: tuple) -> TowerParallelAlexNet:
        """This two-tower net with tower t on `devices[t]` (GPU numbers, or 'cpu'), as the paper ran it.

        Returns a TowerParallelAlexNet sharing nothing with self; activations cross devices only
        before conv3, fc6, fc7 and fc8, and its results equal this grouped net's.
        """
        return TowerParallelAlexNet.from_alexnet(self, devices)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config.items())


def alexnet_small(num_classes: int = 10, input_size: int = SMALL_INPUT_SIZE, width: float = 0.25,
                  **kwargs: Any) -> AlexNet:
    """A CPU-sized AlexNet: the same layers, towers, LRN, pooling and dropout, started differently.

    Channels are a quarter of the paper's (24, 64, 96, 96, 64; fc6/fc7 1024 units) and the input
    is 64x64 instead of 224x224. conv1 becomes 5x5, stride 2, padding 2, so the feature maps go
    32 -> 15 (pool1) -> 15 (conv2) -> 7 (pool2) -> 7 (conv3..5) -> 3 (pool5): the same
    shrinking pattern as the paper's 55 -> 27 -> 13 -> 6, at about 1/50 of its multiply-adds.

    Initialisation: `init="he"` (with `input_scale` 1/64) by default, not the paper's. Measured on the
    embedded shapes set (lr 0.01, momentum 0.9, batch 128): with the paper's N(0, 0.01) and biases of
    1 (or N(0, 0.02), the same signal per layer at this width) the network still predicted one class
    for every image after 4 epochs, in tinyalex and in PyTorch alike: the image-dependent part of
    the logits starts about 100 times smaller than the biases' constant part. The paper's network
    had 90 epochs of 10,000 steps to get past that; a 10-minute CPU run has about 1,500 steps.
    With He's initialisation and pixels scaled to unit size, it learns from the first epochs.
    Pass `init="paper"` for the paper's start.
    """
    kwargs.setdefault("conv1_kernel", 5)
    kwargs.setdefault("conv1_stride", 2)
    kwargs.setdefault("conv1_padding", 2)
    kwargs.setdefault("init", "he")
    return AlexNet(num_classes=num_classes, input_size=input_size, width=width, **kwargs)
