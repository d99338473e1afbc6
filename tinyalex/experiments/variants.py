"""The ablation's variants: one change each to the paper's network, its data or its training.

Named groups stand for several variants on the command line: ``paper`` (the default: the paper's
choices plus the LRN gain control), ``lrn`` (the LRN study of tinyalex.experiments.lrn) and ``all``.

There is no ``reseed`` variant any more: every variant runs with the same N seeds (``--seeds``), and the
spread over those seeds is the noise floor that a single reseeded baseline used to estimate with n = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

# cuda-convnet divides the configured scale (1e-4) by the window size (5) before using it; see experiments.lrn.
CONVNET_ALPHA = 1e-4 / 5


@dataclass(frozen=True)
class Variant:
    """One change to the baseline. ``model`` and ``loader`` override AlexNet's and the DataLoader's
    keyword arguments; ``lrn_gain`` replaces LRN by its mean gain measured on the variant's own net
    with LRN (see ``experiments.lrn.measure_gain``); ``pixel_scale_lrn`` makes LRN see alpha * sum(a^2)
    as on the paper's 0..255 pixels (see ``experiments.ablation.build_model``). ``paper_top1``/``paper_top5`` are the paper's
    claimed increase in error (percentage points) when the choice is taken away, None where it gives
    no number; ``short_claim`` stands in the table then. ``reference`` is the variant this one is a
    control for, when that is not the baseline (its difference from it is reported too). ``expects``
    is what the paper predicts when the choice is taken away, for experiments.verdict: "error"
    (validation error rises), "slower" (training error falls more slowly), None (no prediction for
    this comparison: a control, or a comparison the paper did not make)."""

    name: str
    change: str
    claim: str
    short_claim: str
    model: dict = field(default_factory=dict)
    loader: dict = field(default_factory=dict)
    lrn_gain: bool = False
    pixel_scale_lrn: bool = False
    reference: str = "baseline"
    paper_top1: float | None = None
    paper_top5: float | None = None
    expects: str | None = None


VARIANTS = {v.name: v for v in (
    Variant("baseline", "the paper's net: ReLU, LRN, overlapping 3/2 pooling, dropout 0.5, two towers, fancy PCA",
            "the reference the others are compared with", "-"),
    Variant("no_lrn", "no local response normalisation", "LRN lowers top-1/top-5 error by 1.4/1.2 (Section 3.3)", "",
            model={"lrn": False}, paper_top1=1.4, paper_top5=1.2, expects="error"),
    Variant("lrn_gain", "each LRN replaced by a fixed gain: its mean b/a, measured on a training batch at "
            "initialisation", "none: the control that keeps LRN's gain and drops its normalisation; baseline - "
            "lrn_gain is what normalisation buys", "control", lrn_gain=True),
    Variant("lrn_convnet", "LRN with cuda-convnet's constants: alpha = 1e-4 / 5 (scale divided by the window), k = 2",
            "none: the constants the paper's code ran with, not the printed ones (see experiments.lrn)",
            "code's constants", model={"lrn_alpha": CONVNET_ALPHA}),
    Variant("lrn_caffe", "LRN with Caffe's (and Decaf's) constants: alpha = 1e-4 / 5, k = 1",
            "none: the constants of the Caffe/Decaf translations of the paper's net", "Caffe's constants",
            model={"lrn_alpha": CONVNET_ALPHA, "lrn_k": 1.0}),
    Variant("lrn_pixels", "LRN at the paper's input scale: alpha * sum(a^2) as on 0..255 pixels (alpha divided by "
            "input_scale^2; the baseline itself with the paper's initialisation)",
            "none: the LRN that normalises; the paper's claim at this scale is no_lrn against it", "paper's scale",
            pixel_scale_lrn=True),
    Variant("lrn_pixels_gain", "LRN at the paper's input scale replaced by its measured mean gain",
            "none: lrn_pixels - lrn_pixels_gain is what normalisation buys at the paper's input scale", "control",
            pixel_scale_lrn=True, lrn_gain=True, reference="lrn_pixels"),
    Variant("no_overlap", "non-overlapping 2/2 max pooling instead of 3/2",
            "overlapping pooling lowers top-1/top-5 error by 0.4/0.3 (Section 3.4)", "",
            model={"overlap_pooling": False}, paper_top1=0.4, paper_top5=0.3, expects="error"),
    Variant("no_dropout", "no dropout in fc6 and fc7",
            "without dropout the net 'exhibits substantial overfitting' (Section 4.2; no number)", "overfits",
            model={"dropout": 0.0}, expects="error"),
    Variant("one_tower", "one tower: conv2, conv4, conv5 read all channels (groups 1)",
            "two towers lower top-1/top-5 by 1.7/1.2 against a one-GPU net with half the kernels "
            "(Section 3.2; a different comparison: here both nets have all the kernels)", "other comparison",
            model={"towers": 1}),
    Variant("no_pca", "no fancy PCA colour augmentation", "fancy PCA lowers top-1 error by over 1 (Section 4.1)", "",
            loader={"pca": False}, paper_top1=1.0, expects="error"),
    Variant("tanh", "tanh instead of ReLU",
            "ReLU reaches 25% training error six times faster than tanh (Section 3.1, Figure 1, CIFAR-10)",
            "6x slower to 25% train err", model={"activation": "tanh"}, expects="slower"),
)}
DEFAULT_VARIANTS = ("baseline", "no_lrn", "lrn_gain", "no_overlap", "no_dropout", "one_tower", "no_pca", "tanh")
GROUPS = {
    "paper": DEFAULT_VARIANTS,
    "lrn": ("baseline", "no_lrn", "lrn_gain", "lrn_convnet", "lrn_caffe", "lrn_pixels", "lrn_pixels_gain"),
    "all": tuple(VARIANTS),
}
REMOVED = {"reseed": "the reseed variant is gone: every variant now runs with --seeds N, and the spread over "
                     "the seeds is the noise floor"}


def expand(names: Iterable[str]) -> list[str]:
    """Variant names with each group name replaced by its variants; unknown names are a ValueError."""
    names = list(names)
    for name in names:
        if name in REMOVED:
            raise ValueError(REMOVED[name])
    unknown = [n for n in names if n not in VARIANTS and n not in GROUPS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)} or the groups "
                         f"{', '.join(GROUPS)}")
    return [v for n in names for v in GROUPS.get(n, (n,))]


def pick_variants(names: Iterable[str] | None) -> list[Variant]:
    """The named variants and groups (default: ``paper``) in table order, baseline first, each once.

    The baseline is added when it is missing, and so is the reference of every control chosen: a
    difference needs both of its runs.
    """
    chosen = set(expand(DEFAULT_VARIANTS if names is None else names))
    if not chosen:
        raise ValueError(f"no variants given; choose from {', '.join(VARIANTS)} or the groups {', '.join(GROUPS)}")
    chosen |= {"baseline"} | {VARIANTS[n].reference for n in chosen}
    return [VARIANTS[n] for n in VARIANTS if n in chosen]
