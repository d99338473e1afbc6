"""Reproducing the paper's claims: ablations over seeds, its figures, and a results table."""
from tinyalex.experiments.ablation import (AblationConfig, build_model, measure_lrn_range, run_ablation,
                                           run_seed)
from tinyalex.experiments.curves import epochs_to_error, plot_relu_tanh, plot_variant_curves, training_error
from tinyalex.experiments.output import save_png
from tinyalex.experiments.seeds import paired_difference, summarize
from tinyalex.experiments.subset import Subset, balanced_indices, balanced_subset
from tinyalex.experiments.variants import DEFAULT_VARIANTS, GROUPS, VARIANTS, Variant

__all__ = [
    "DEFAULT_VARIANTS", "GROUPS", "VARIANTS", "AblationConfig", "Subset", "Variant", "balanced_indices",
    "balanced_subset", "build_model", "epochs_to_error", "measure_lrn_range", "paired_difference", "plot_relu_tanh",
    "plot_variant_curves", "run_ablation", "run_seed", "save_png", "summarize", "training_error",
]
