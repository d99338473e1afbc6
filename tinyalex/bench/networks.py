"""The benchmarked network in tinyalex, and its twin in PyTorch with the same weights."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from tinyalex import layers as nn
from tinyalex.backend import to_cpu
from tinyalex.models.alexnet import AlexNet


def build_alexnet(image_size: int = 224, width: float = 1.0, towers: int = 2, lrn: bool = True) -> AlexNet:
    """The paper's AlexNet (two towers, LRN, 1000 classes) unless told otherwise; seed 0."""
    return AlexNet(num_classes=1000, towers=towers, lrn=lrn, width=width, input_size=image_size, seed=0)


def torch_twin(model: nn.Module, torch: Any, device: str) -> Any:
    """A torch.nn.Sequential with the same layers, names and weights as `model`.

    LRN's alpha is converted (PyTorch divides it by the size); ReLUs run in place, as in
    torchvision's AlexNet, so that PyTorch is measured at its usual best.
    """
    tnn = torch.nn
    twins = OrderedDict()
    for name, layer in model.named_children():
        if isinstance(layer, nn.Conv2d):
            twin = tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                              layer.padding, groups=layer.groups, bias=layer.bias is not None)
        elif isinstance(layer, nn.Linear):
            out_features, in_features = layer.weight.shape
            twin = tnn.Linear(in_features, out_features, bias=layer.bias is not None)
        elif isinstance(layer, nn.ReLU):
            twin = tnn.ReLU(inplace=True)
        elif isinstance(layer, nn.Tanh):
            twin = tnn.Tanh()
        elif isinstance(layer, nn.LocalResponseNorm):
            twin = tnn.LocalResponseNorm(layer.size, alpha=layer.alpha * layer.size, beta=layer.beta, k=layer.k)
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
    return tnn.Sequential(twins).to(device)
