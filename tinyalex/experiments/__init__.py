"""Reproducing the paper's claims: ablations, its figures, and a results table."""
from tinyalex.experiments.ablation import (DEFAULT_VARIANTS, VARIANTS, AblationConfig, Variant, build_model,
                                           run_ablation, run_variant)
from tinyalex.experiments.curves import epochs_to_error, plot_relu_tanh, plot_variant_curves, training_error
from tinyalex.experiments.output import save_png
from tinyalex.experiments.subset import Subset, balanced_indices, balanced_subset

__all__ = [
    "DEFAULT_VARIANTS", "VARIANTS", "AblationConfig", "Subset", "Variant", "balanced_indices", "balanced_subset",
    "build_model", "epochs_to_error", "plot_relu_tanh", "plot_variant_curves", "run_ablation", "run_variant",
    "save_png", "training_error",
]
