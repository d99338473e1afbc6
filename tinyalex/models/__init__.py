"""Networks built from tinyalex layers."""
from tinyalex.models.alexnet import PAPER_INPUT_SIZE, SMALL_INPUT_SIZE, AlexNet, alexnet_small
from tinyalex.models.summary import LayerInfo, layer_table, summary

__all__ = [
    "PAPER_INPUT_SIZE", "SMALL_INPUT_SIZE", "AlexNet", "LayerInfo", "alexnet_small", "layer_table", "summary",
]
