"""Networks built from tinyalex layers."""
from tinyalex.models.alexnet import PAPER_INPUT_SIZE, SMALL_INPUT_SIZE, AlexNet, alexnet_small
from tinyalex.models.decay import decay_groups
from tinyalex.models.summary import LayerInfo, layer_table, summary

__all__ = [
    "PAPER_INPUT_SIZE", "SMALL_INPUT_SIZE", "AlexNet", "LayerInfo", "alexnet_small", "decay_groups", "layer_table",
    "summary",
]
