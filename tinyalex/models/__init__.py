"""Networks built from tinyalex layers."""
from tinyalex.models.alexnet import AlexNet, alexnet_small
from tinyalex.models.summary import LayerInfo, layer_table, summary

__all__ = ["AlexNet", "LayerInfo", "alexnet_small", "layer_table", "summary"]
