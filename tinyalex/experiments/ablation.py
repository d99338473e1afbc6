"""Ablations: train the paper's network and one variant per design choice, all with the same
seed, data and budget, and compare their errors with what the paper claims each choice buys.

Files written to ``out_dir``:

* ``config.json``            the settings shared by every variant (a rerun must use the same ones)
* ``<variant>/``             that variant's training run (checkpoints, metrics.csv, curves.png)
                             and ``result.json`` once it is finished (a rerun skips it)
* ``results.md|csv|json``    the table: top-1/top-5 error per variant beside the paper's claim
* ``curves.png``             every variant's training and validation curves
* ``figure1.png``            ReLU against tanh: training error against epochs (the paper's Figure 1)
"""
from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from tqdm import tqdm

from tinyalex.backend import resolve_device
from tinyalex.data import atomic
from tinyalex.data.loader import DataLoader
from tinyalex.experiments.curves import THRESHOLD, epochs_to_error, plot_relu_tanh, plot_variant_curves
from tinyalex.experiments.output import read_json, save_png, write_text
from tinyalex.experiments.subset import balanced_subset
from tinyalex.models import PAPER_INPUT_SIZE, SMALL_INPUT_SIZE, AlexNet, alexnet_small
from tinyalex.optim import MomentumSGD
from tinyalex.training import NonFiniteLossError, fit, load_checkpoint, open_datasets


@dataclass(frozen=True)
class Variant:
    """One change to the baseline. ``model`` and ``loader`` override AlexNet's and the DataLoader's
    keyword arguments; ``paper_top1``/``paper_top5`` are the paper's claimed increase in error (in
    percentage points) when the choice is taken away, None where the paper gives no such number;
    ``short_claim`` stands in the table where there is no number."""

    name: str
    change: str
    claim: str
    short_claim: str
    model: dict = field(default_factory=dict)
    loader: dict = field(default_factory=dict)
    seed_offset: int = 0
    paper_top1: float | None = None
    paper_top5: float | None = None


VARIANTS = {v.name: v for v in (
    Variant("baseline", "the paper's net: ReLU, LRN, overlapping 3/2 pooling, dropout 0.5, two towers, fancy PCA",
            "the reference the others are compared with", "-"),
    Variant("no_lrn", "no local response normalisation", "LRN lowers top-1/top-5 error by 1.4/1.2 (Section 3.3)", "",
            model={"lrn": False}, paper_top1=1.4, paper_top5=1.2),
    Variant("no_overlap", "non-overlapping 2/2 max pooling instead of 3/2",
            "overlapping pooling lowers top-1/top-5 error by 0.4/0.3 (Section 3.4)", "",
            model={"overlap_pooling": False}, paper_top1=0.4, paper_top5=0.3),
    Variant("no_dropout", "no dropout in fc6 and fc7",
            "without dropout the net 'exhibits substantial overfitting' (Section 4.2; no number)", "overfits",
            model={"dropout": 0.0}),
    Variant("one_tower", "one tower: conv2, conv4, conv5 read all channels (groups 1)",
            "two towers lower top-1/top-5 by 1.7/1.2 against a one-GPU net with half the kernels "
            "(Section 3.2; a different comparison: here both nets have all the kernels)", "other comparison",
            model={"towers": 1}),
    Variant("no_pca", "no fancy PCA colour augmentation", "fancy PCA lowers top-1 error by over 1 (Section 4.1)", "",
            loader={"pca": False}, paper_top1=1.0),
    Variant("tanh", "tanh instead of ReLU",
            "ReLU reaches 25% training error six times faster than tanh (Section 3.1, Figure 1, CIFAR-10)",
            "6x slower to 25% train err",
            model={"activation": "tanh"}),
    Variant("reseed", "the baseline with another seed (weights, data order, augmentation): the noise level",
            "none: any difference here is chance", "0 / 0", seed_offset=1),
)}
DEFAULT_VARIANTS = ("baseline", "no_lrn", "no_overlap", "no_dropout", "one_tower", "no_pca", "tanh")
MODELS = {"small": alexnet_small, "alexnet": AlexNet}
CROPS = {"small": SMALL_INPUT_SIZE, "alexnet": PAPER_INPUT_SIZE}


@dataclass
class AblationConfig:
    """Settings shared by every variant. ``data`` None is the embedded default; ``train_images`` and
    ``val_images`` (None: all) take a class-balanced subset; ``width`` and ``init`` ("paper" or "he")
    None are the model's defaults. ``model`` None is ``small`` (alexnet_small, 64px crops) on the embedded default
    and ``alexnet`` (the paper's net, 224px crops) on other data, as in ``tinyalex train``; ``crop``
    None is the model's input size."""

    def resolved(self) -> "AblationConfig":
        """These settings with the model and crop defaults filled in."""
        model = self.model or ("small" if self.data is None else "alexnet")
        return replace(self, model=model, crop=self.crop or CROPS[model])

    data: str | None = None
    model: str | None = None
    width: float | None = None
    init: str | None = None
    crop: int | None = None
    epochs: int = 6
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0005
    train_images: int | None = None
    val_images: int | None = None
    seed: int = 0
    device: str = "cpu"
    workers: int = 2

    def check(self) -> None:
        if self.model is not None and self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        for name in ("epochs", "batch_size", "crop"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("train_images", "val_images"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (or None for all), got {getattr(self, name)}")


def pick_variants(names: Iterable[str] | None) -> list[Variant]:
    """The named variants (default: the paper's seven), baseline first; unknown names are an error."""
    names = list(DEFAULT_VARIANTS if names is None else names)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if not names:
        raise ValueError(f"no variants given; choose from {', '.join(VARIANTS)}")
    return [VARIANTS[n] for n in VARIANTS if n in names]


def build_model(config: AblationConfig, num_classes: int, variant: Variant) -> AlexNet:
    """The variant's network: ``config.model``'s net at the crop size, with the variant's changes."""
    config = config.resolved()
    kwargs: dict[str, Any] = {"num_classes": num_classes, "input_size": config.crop,
                              "seed": config.seed + variant.seed_offset, **variant.model}
    if config.width is not None:
        kwargs["width"] = config.width
    if config.init is not None:
        kwargs["init"] = config.init
    return MODELS[config.model](**kwargs)


def run_ablation(out_dir: str | os.PathLike, variants: Iterable[str] | None = None,
                 config: AblationConfig | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Train every variant (skipping those already finished in ``out_dir``), write the table and
    figures, and return one result per variant (see ``run_variant``), baseline first."""
    config = config or AblationConfig()
    config.check()
    config = config.resolved()
    chosen = pick_variants(variants)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "config.json"
    if saved.is_file():
        old = read_json(saved)
        changed = {k: (old.get(k), v) for k, v in asdict(config).items() if old.get(k) != v}
        if changed:
            raise ValueError(f"{out} holds an ablation run with other settings ({changed}, as (saved, now)): "
                             "use another output folder, or the same settings to continue it")
    else:
        atomic.write_json(saved, asdict(config))
    train, val, info = open_datasets(config.data, config.crop, progress)
    train = balanced_subset(train, config.train_images, config.seed)
    val = balanced_subset(val, config.val_images, config.seed)
    results = []
    for variant in chosen:
        if progress:
            tqdm.write(f"--- {variant.name}: {variant.change}")
        results.append(run_variant(variant, config, train, val, info, out / variant.name, progress))
    write_results(out, results, config, describe_data(info, train, val))
    return results


def run_variant(variant: Variant, config: AblationConfig, train: Any, val: Any, info: dict,
                out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Train one variant for ``config.epochs`` epochs; its result: final validation top-1/top-5 error
    (centre crop), final training error, epochs to 25% training error, seconds, parameters, history.

    A finished variant (``result.json`` present) is read back, not retrained; an interrupted one
    continues from its last checkpoint.
    """
    done = out_dir / "result.json"
    if done.is_file():
        if progress:
            tqdm.write(f"{variant.name}: already finished, reading {done}")
        return read_json(done)
    device = resolve_device(config.device)
    seed = config.seed + variant.seed_offset
    model = build_model(config, len(info["wnids"]), variant)
    optimizer = MomentumSGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                            weight_decay=config.weight_decay)
    loader_options = {"pca": True, **variant.loader}
    train_loader = DataLoader(train, config.batch_size, train=True, crop=config.crop, seed=seed, device=device,
                              workers=config.workers, **loader_options)
    val_loader = DataLoader(val, config.batch_size, train=False, crop=config.crop, device=device,
                            workers=config.workers)
    resume = (out_dir / "last.npz").is_file()
    start = time.perf_counter()
    diverged = None
    try:
        history = fit(model, train_loader, val_loader, optimizer, config.epochs, out_dir=out_dir, device=device,
                      resume=resume, quiet=not progress, data_info=info, mean=train.mean,
                      run_info={"ablation": variant.name, **asdict(config)})
    except NonFiniteLossError as exc:  # a result too: this variant does not train at this learning rate
        diverged = str(exc)
        last_good = out_dir / "last.npz"
        history = load_checkpoint(last_good)["meta"]["history"] if last_good.is_file() else []
    last = history[-1] if history and diverged is None else {}
    result = {
        "variant": variant.name, "change": variant.change, "claim": variant.claim, "short_claim": variant.short_claim,
        "paper_top1": variant.paper_top1, "paper_top5": variant.paper_top5,
        "top1_error": last.get("top1_error"), "top5_error": last.get("top5_error"),
        "train_error": 1.0 - last["train_accuracy"] if last else None,
        "epochs_to_threshold": epochs_to_error(history), "epochs": len(history),
        "seconds": sum(r["seconds"] for r in history), "parameters": model.num_parameters(),
        "checkpoint": str(out_dir / "last.npz"), "diverged": diverged, "history": history,
    }
    if progress:
        tqdm.write(f"{variant.name}: this session {time.perf_counter() - start:.0f} s")
    atomic.write_json(done, result)
    return result


def describe_data(info: dict, train: Any, val: Any) -> str:
    where = "the embedded default (shapes10)" if info["source"] == "default" else info["root"]
    return (f"{where}: {len(info['wnids'])} classes, {len(train)} training and {len(val)} validation images, "
            f"stored at {info['size']}px, {info['crop']}px crops")


def comparison_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per result with its difference from the baseline in percentage points (variant - baseline)."""
    base = next((r for r in results if r["variant"] == "baseline"), None)
    rows = []
    for r in results:
        row = {key: r[key] for key in ("variant", "change", "top1_error", "top5_error", "train_error",
                                        "epochs_to_threshold", "seconds", "parameters", "paper_top1",
                                        "paper_top5", "claim", "short_claim", "diverged")}
        for k in ("top1", "top5"):
            known = base is not None and None not in (r[f"{k}_error"], base[f"{k}_error"])
            row[f"delta_{k}"] = 100 * (r[f"{k}_error"] - base[f"{k}_error"]) if known else None
        rows.append(row)
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (errors in %, differences in percentage points)."""
    lines = [
        "| variant | top-1 err % | top-5 err % | Δ top-1 | Δ top-5 | paper's Δ top-1 / top-5 | train err % | "
        f"epochs to {THRESHOLD:.0%} train err | time s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        paper = (r["short_claim"] if r["paper_top1"] is None
                 else f"{_points(r['paper_top1'])} / {_points(r['paper_top5'])}")
        reached = "not reached" if r["epochs_to_threshold"] is None else str(r["epochs_to_threshold"])
        top1 = "diverged" if r["diverged"] else _pct(r["top1_error"])
        lines.append(
            f"| {r['variant']} | {top1} | {_pct(r['top5_error'])} | {_points(r['delta_top1'])} | "
            f"{_points(r['delta_top5'])} | {paper} | {_pct(r['train_error'])} | {reached} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def notes(results: list[dict[str, Any]], config: AblationConfig, data: str) -> str:
    """What the table was measured on, what each variant changes and claims, and how to read it."""
    base = next((r for r in results if r["variant"] == "baseline"), results[0])
    model = f"{config.model} AlexNet" + (f", width {config.width}" if config.width is not None else "")
    model += (f", {config.init} initialisation" if config.init else
              ", its default initialisation (small: He's with unit-scale pixels; alexnet: the paper's)")
    lines = [
        f"- Data: {data}.",
        f"- Model: {model}, {base['parameters']:,} parameters in the baseline.",
        f"- Budget per variant: {config.epochs} epochs, batch {config.batch_size}, momentum SGD lr {config.lr} "
        f"(momentum {config.momentum}, weight decay {config.weight_decay}, no schedule), seed {config.seed}, "
        f"device {config.device}.",
        "- Errors: validation set, centre crop, after the last epoch. Δ = variant - baseline in percentage points: "
        "positive means taking the choice away hurt, as the paper's claim predicts. Training error is measured "
        "while training (dropout and augmentation on). Time: wall-clock seconds of training and validation, "
        "which depend on whatever else the machine was running.",
        "- The paper's numbers are for ImageNet (1.2 million images, 1000 classes, about 90 epochs). On a small set "
        "with a short budget the differences need not match them, in size or in sign: compare each Δ with the "
        "spread between two seeds (the `reseed` variant, when run) before reading anything into it.",
        "",
        "Variants and the paper's claims:",
        "",
    ]
    lines += [f"- `{r['variant']}`: {r['change']}. Paper: {r['claim']}." for r in results]
    lines += [f"- `{r['variant']}` diverged: {r['diverged']}" for r in results if r["diverged"]]
    relu = next((r for r in results if r["variant"] == "baseline"), None)
    tanh = next((r for r in results if r["variant"] == "tanh"), None)
    if relu is not None and tanh is not None:
        a, b = relu["epochs_to_threshold"], tanh["epochs_to_threshold"]
        if a is not None and b is not None:
            verdict = f"tanh took {b / a:.1f} times as many epochs"
        else:
            verdict = "the ratio cannot be measured within this budget"
        lines += ["", f"ReLU against tanh: epochs to {THRESHOLD:.0%} training error: ReLU "
                      f"{a if a is not None else 'not reached'}, tanh {b if b is not None else 'not reached'} "
                      f"({verdict}; the paper: six times faster on CIFAR-10 with a four-layer net)."]
    return "\n".join(lines) + "\n"


def write_results(out_dir: Path, results: list[dict[str, Any]], config: AblationConfig, data: str) -> None:
    """results.md (table and notes), results.csv, results.json, curves.png and, with both, figure1.png."""
    rows = comparison_rows(results)
    text = "# Ablations\n\n" + markdown_table(rows) + "\n" + notes(results, config, data)
    write_text(out_dir / "results.md", text)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out_dir / "results.csv", buffer.getvalue())
    atomic.write_json(out_dir / "results.json", {"config": asdict(config), "data": data, "results": results})
    histories = {r["variant"]: r["history"] for r in results}
    save_png(plot_variant_curves(histories), out_dir / "curves.png")
    if "baseline" in histories and "tanh" in histories:
        save_png(plot_relu_tanh(histories["baseline"], histories["tanh"]), out_dir / "figure1.png")
