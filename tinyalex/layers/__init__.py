"""Layers: Modules that hold parameters and call the ops."""
from tinyalex.layers.activation import ReLU, Tanh
from tinyalex.layers.container import Sequential
from tinyalex.layers.conv2d import Conv2d
from tinyalex.layers.dropout import Dropout
from tinyalex.layers.flatten import Flatten
from tinyalex.layers.linear import Linear
from tinyalex.layers.local_response_norm import LocalResponseNorm
from tinyalex.layers.max_pool2d import MaxPool2d
from tinyalex.layers.module import Module, Parameter
from tinyalex.layers.scale import Scale

__all__ = [
    "Conv2d", "Dropout", "Flatten", "Linear", "LocalResponseNorm", "MaxPool2d", "Module", "Parameter",
    "ReLU", "Scale", "Sequential", "Tanh",
]
