"""The benchmarked networks in tinyalex, and the twin in PyTorch with the same layers and weights."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from tinyalex import layers as nn
from tinyalex import backend
from tinyalex.backend import to_cpu
from tinyalex.models.alexnet import AlexNet, alexnet_small

# --model name -> what it builds; `small` is what `tinyalex train` trains by default.
MODELS = {
    "small": "alexnet_small: 64 px crops, a quarter of the channels, 10 classes, He's init",
    "alexnet": "the paper's AlexNet: 224 px, two towers, LRN, 1000 classes, the paper's init",
}


def build_model(name: str, image_size: int | None = None, width: float | None = None) -> AlexNet:
    """The net `name` (a key of MODELS) from seed 0, so that every child process builds the same weights.

    `image_size` and `width` replace the net's own input side and channel scale when given.
    """
    sizes = {} if image_size is None else {"input_size": image_size}
    widths = {} if width is None else {"width": width}
    if name == "small":
        return alexnet_small(seed=0, **sizes, **widths)
    if name == "alexnet":
        return AlexNet(num_classes=1000, seed=0, **sizes, **widths)
    raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")


def torch_twin(model: AlexNet, device: str = "cpu") -> Any:
    """A torch.nn.Sequential computing what `model` computes, with its layer names and a copy of its weights.

    The model's input scale becomes a first layer `input_scale` (when it is not 1); LRN
    normalises each tower on its own with the paper's alpha (see torch_layers.TowerLRN).
    ReLUs run in place, as in torchvision's AlexNet, so that PyTorch is measured at its usual best.
    On the GPU PyTorch uses TF32 exactly when CuPy does (TINYALEX_TF32=1; off by default, both sides in float32).
    """
    import torch

    from tinyalex.bench.torch_layers import InputScale, TowerLRN

    tnn = torch.nn
    twins: OrderedDict[str, Any] = OrderedDict()
    if model.input_scale != 1.0:
        twins["input_scale"] = InputScale(model.input_scale)
    for name, layer in model.named_children():
        if isinstance(layer, nn.Conv2d):
            twin = tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                              layer.padding, groups=layer.groups, bias=layer.bias is not None)
        elif isinstance(layer, nn.Linear):
            twin = tnn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
        elif isinstance(layer, nn.ReLU):
            twin = tnn.ReLU(inplace=True)
        elif isinstance(layer, nn.Tanh):
            twin = tnn.Tanh()
        elif isinstance(layer, nn.LocalResponseNorm):
            twin = TowerLRN(layer.size, layer.alpha, layer.beta, layer.k, layer.groups)
        elif isinstance(layer, nn.MaxPool2d):
            twin = tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
        elif isinstance(layer, nn.Dropout):
            twin = tnn.Dropout(layer.p)
        elif isinstance(layer, nn.Flatten):
            twin = tnn.Flatten()
        else:
            raise TypeError(f"torch_twin: no PyTorch twin for layer {name} ({type(layer).__name__})")
        for param_name, param in layer.named_parameters():
            getattr(twin, param_name).data.copy_(torch.from_numpy(to_cpu(param.data)))
        twins[name] = twin
    if device == "gpu":  # TF32 exactly when tinyalex's CuPy uses it (TINYALEX_TF32, off by default)
        torch.backends.cudnn.allow_tf32 = backend.tf32_enabled()
        torch.backends.cuda.matmul.allow_tf32 = backend.tf32_enabled()
    return tnn.Sequential(twins).to("cuda" if device == "gpu" else device)
