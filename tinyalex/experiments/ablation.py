"""Ablations: train the paper's network and one variant per design choice with N seeds each, all on
the same data and budget, and compare their errors with what the paper claims each choice buys.

Seeds: run i of every variant uses seed ``config.seed + i``, which sets its initial weights, dropout
masks, data order, crops, flips and colour shifts; the variants share these seeds, so their
differences from the baseline are paired per seed (see experiments.seeds for the statistics and the
rule that marks a difference as not resolved). The class-balanced subsets (``train_images``,
``val_images``) are drawn once with ``config.seed`` and are the same for every run.

Files written to ``out_dir``:

* ``config.json``              the settings shared by every run (a rerun must use the same ones; only
                               ``seeds`` may grow, to add seeds to a finished ablation)
* ``<variant>/seed<s>/``       one training run: checkpoints, metrics.csv, curves.png, train.log, and
                               ``result.json`` once it is finished (a rerun skips it; a run killed
                               midway continues from its last checkpoint); ``jobs`` > 1 trains that
                               many at once, each in its own process on its share of the cores
* ``results.md|csv|json``      the tables: mean and sd over seeds of every error, differences from the
                               baseline with their uncertainty, LRN's range, Figure 1's epochs
* ``runs.csv``                 one row per run
* ``lrn_range.json``           alpha * sum(a^2) per LRN layer at initialisation (experiments.lrn)
* ``curves.png``, ``figure1.png``  every run's curves; ReLU against tanh (the paper's Figure 1)
"""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from tqdm import tqdm

from tinyalex.backend import resolve_device
from tinyalex.data import atomic
from tinyalex.data.loader import DataLoader
from tinyalex.experiments.curves import epochs_to_error
from tinyalex.experiments.lrn import measure_gain, measure_range, norm_layers
from tinyalex.experiments.output import read_json
from tinyalex.experiments.report import lrn_table, write_results
from tinyalex.experiments.subset import balanced_subset
from tinyalex.experiments.variants import VARIANTS, Variant, pick_variants
from tinyalex.models import PAPER_INPUT_SIZE, SMALL_INPUT_SIZE, AlexNet, alexnet_small, decay_groups
from tinyalex.ops.threads import count as count_threads
from tinyalex.ops.threads import limit as limit_threads
from tinyalex.optim import MomentumSGD
from tinyalex.training import NonFiniteLossError, fit, load_checkpoint, open_datasets
from tinyalex.training.evaluate import evaluate

MODELS = {"small": alexnet_small, "alexnet": AlexNet}
CROPS = {"small": SMALL_INPUT_SIZE, "alexnet": PAPER_INPUT_SIZE}
# Settings that may differ between the runs of one output folder: more seeds only add runs; the device
# and the loader's threads change how fast a run trains, not what it computes (up to float rounding).
GROWABLE = ("seeds", "device", "workers")
# Images on which LRN's gain and range are measured: enough for a per-position mean, one cheap forward.
MEASURE_IMAGES = 32
LRN_ALPHA = 1e-4  # the paper's


@dataclass
class AblationConfig:
    """Settings shared by every variant and seed. ``seeds`` runs per variant, with seeds ``seed`` ..
    ``seed + seeds - 1``. ``data`` None is the embedded default; ``train_images`` and ``val_images``
    (None: all) take a class-balanced subset; ``width`` and ``init`` ("paper" or "he") None are the
    model's defaults. ``model`` None is ``small`` (alexnet_small, 64px crops) on the embedded default
    and ``alexnet`` (the paper's net, 224px crops) on other data, as in ``tinyalex train``; ``crop``
    None is the model's input size. ``bias_decay`` False leaves the biases out of weight decay, as
    cuda-convnet did (see tinyalex.models.decay)."""

    def resolved(self) -> "AblationConfig":
        """These settings with the model, crop and device defaults filled in."""
        model = self.model or ("small" if self.data is None else "alexnet")
        return replace(self, model=model, crop=self.crop or CROPS[model], device=resolve_device(self.device))

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
    bias_decay: bool = True
    train_images: int | None = None
    val_images: int | None = None
    seed: int = 0
    seeds: int = 1
    device: str | None = None  # None: TINYALEX_DEVICE, else auto
    workers: int = 2

    def check(self) -> None:
        if self.model is not None and self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        for name in ("epochs", "batch_size", "crop", "seeds"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"seed must be at least 0, got {self.seed}")
        for name in ("train_images", "val_images"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (or None for all), got {getattr(self, name)}")

    def seed_list(self) -> list[int]:
        """The seeds of the runs, in order: ``seed``, ``seed + 1``, ..."""
        return [self.seed + i for i in range(self.seeds)]


def build_model(config: AblationConfig, num_classes: int, variant: Variant, seed: int | None = None,
                gains: list[float] | None = None) -> AlexNet:
    """The variant's network for ``seed`` (default ``config.seed``): ``config.model``'s net at the crop
    size with the variant's changes; ``gains`` are the fixed gains of an ``lrn_gain`` control.

    ``pixel_scale_lrn``: a net whose input is scaled by s (alexnet_small with He's initialisation: s =
    1/64) computes LRN with alpha / s^2; since LRN(s a; alpha / s^2) = s LRN(a; alpha), and at
    initialisation every other layer is positively homogeneous (He's biases are 0), the net then
    computes exactly s times what it computes on 0..255 pixels: alpha * sum(a^2) in both LRN layers is
    that of 0..255 pixels, while the logits keep their unit scale. Feeding 0..255 pixels to the
    He-initialised net instead makes its logits about 30 times larger, and it diverged within 8 steps
    at lr 0.01 with LRN, with its gain control and without LRN (measured on the shapes set). With s = 1
    (the paper's initialisation) the variant is the baseline.
    """
    config = config.resolved()
    kwargs: dict[str, Any] = {"num_classes": num_classes, "input_size": config.crop,
                              "seed": config.seed if seed is None else seed, **variant.model}
    if config.width is not None:
        kwargs["width"] = config.width
    if config.init is not None:
        kwargs["init"] = config.init
    if gains is not None:
        kwargs["lrn_gain"] = gains
    model = MODELS[config.model](**kwargs)
    if variant.pixel_scale_lrn and model.input_scale != 1.0:
        model = MODELS[config.model](**kwargs, lrn_alpha=LRN_ALPHA / model.input_scale ** 2)
    return model


def measurement_batch(train: Any, config: AblationConfig, seed: int, variant: Variant) -> Any:
    """The first ``MEASURE_IMAGES`` (at most a batch) training images of ``seed``'s first epoch, augmented
    as the variant trains, on the run's device: the batch on which LRN's gain and range are measured."""
    loader = DataLoader(train, min(config.batch_size, MEASURE_IMAGES), train=True, crop=config.crop, seed=seed,
                        device=resolve_device(config.device), workers=0, prefetch=0, **{"pca": True, **variant.loader})
    return next(iter(loader))[0]


def initial_model(config: AblationConfig, num_classes: int, variant: Variant, seed: int) -> AlexNet:
    """The variant's net with LRN at initialisation, on the run's device: what LRN is measured on."""
    return build_model(config, num_classes, variant, seed).to(resolve_device(config.device))


def lrn_gains(variant: Variant, config: AblationConfig, seed: int, train: Any, num_classes: int,
              out_dir: Path) -> list[float]:
    """The gains of an ``lrn_gain`` control for ``seed``: measured once on the same net with LRN at
    initialisation and kept in ``out_dir/lrn_gain.json``, so that a resumed run uses the same ones."""
    path = out_dir / "lrn_gain.json"
    if path.is_file():
        return read_json(path)
    gains = measure_gain(initial_model(config, num_classes, variant, seed),
                         measurement_batch(train, config, seed, variant))
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, gains)
    return gains


def lrn_range_at_init(variants: list[Variant], config: AblationConfig, train: Any,
                      num_classes: int) -> dict[str, Any]:
    """``measure_range`` of every chosen variant with LRN layers, at initialisation with the first seed."""
    seed = config.seed_list()[0]
    ranges = {}
    for variant in (v for v in variants if not v.lrn_gain):  # a gain control has no LRN to measure
        model = initial_model(config, num_classes, variant, seed)
        if norm_layers(model):
            ranges[variant.name] = measure_range(model, measurement_batch(train, config, seed, variant))
    return ranges


def check_settings(out: Path, config: AblationConfig) -> None:
    """Refuse a training run's folder, or one that holds runs with other settings; record these settings.
    Settings that no run has used yet are replaced: an ablation that failed before its first checkpoint,
    or whose runs all diverged before it (their results are dropped, to be run again with the new settings)."""
    if (out / "last.npz").exists():
        raise ValueError(f"{out} holds a training run (last.npz), not an ablation: choose another --out")
    saved = out / "config.json"
    now = asdict(config)
    if saved.is_file():
        old = read_json(saved)
        changed = {k: (old.get(k), v) for k, v in now.items() if old.get(k) != v and k not in GROWABLE}
        results = list(out.glob("*/seed*/result.json"))
        nothing = [r for r in results if not (r.parent / "last.npz").exists() and read_json(r).get("diverged")]
        started = any(out.glob("*/seed*/last.npz")) or len(nothing) < len(results)
        if changed and started:
            raise ValueError(f"{out} holds an ablation run with other settings ({changed}, as (saved, now)): "
                             "use another output folder, or the same settings to continue it")
        if changed:  # runs that diverged at once under the old settings (a learning rate too high, say)
            for result in nothing:
                result.unlink()
    atomic.write_json(saved, now)


def prepare(out_dir: str | os.PathLike, variants: Iterable[str] | None, config: AblationConfig | None,
            progress: bool, training: bool = True) -> tuple[Path, AblationConfig, list[Variant], Any, Any, dict]:
    """Check the settings (and, when ``training``, the output folder's) and open the data: (out, resolved
    config, variants, train, val, data info)."""
    config = config or AblationConfig()
    config.check()
    config = config.resolved()
    chosen = pick_variants(variants)
    out = Path(out_dir)
    train, val, info = open_datasets(config.data, config.crop, progress)
    out.mkdir(parents=True, exist_ok=True)  # after the data opened: a data error leaves no empty folder
    if training:  # after the data opened: a folder that cannot be trained on records no settings
        check_settings(out, config)
    train = balanced_subset(train, config.train_images, config.seed)
    val = balanced_subset(val, config.val_images, config.seed)
    return out, config, chosen, train, val, info


def measure_lrn_range(out_dir: str | os.PathLike, variants: Iterable[str] | None = None,
                      config: AblationConfig | None = None, progress: bool = True) -> dict[str, Any]:
    """alpha * sum(a^2) and the gain of every LRN layer of the chosen variants at initialisation, written
    to ``out_dir/lrn_range.json`` and returned; trains nothing."""
    out, config, chosen, train, _, info = prepare(out_dir, variants, config, progress, training=False)
    ranges = lrn_range_at_init(chosen, config, train, len(info["wnids"]))
    atomic.write_json(out / "lrn_range.json", ranges)
    return ranges


def run_ablation(out_dir: str | os.PathLike, variants: Iterable[str] | None = None,
                 config: AblationConfig | None = None, progress: bool = True, jobs: int = 1) -> dict[str, Any]:
    """Train every variant with every seed (skipping runs already finished in ``out_dir``), ``jobs`` runs
    at a time, write the tables and figures, and return what ``results.json`` holds:
    {"variants": {name: {...}}}."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    out, config, chosen, train, val, info = prepare(out_dir, variants, config, progress)
    ranges = lrn_range_at_init(chosen, config, train, len(info["wnids"]))
    atomic.write_json(out / "lrn_range.json", ranges)
    if progress and ranges:
        tqdm.write("alpha * sum(a^2) over LRN's window against k, at initialisation:\n" + lrn_table(ranges))
    runs: dict[str, list[dict[str, Any]]] = {v.name: [] for v in chosen}
    order = [(variant, seed) for seed in config.seed_list() for variant in chosen]
    if jobs > 1:
        results = run_in_processes(out, order, config, jobs, progress)
    else:
        results = []
        for variant, seed in order:
            if progress:
                tqdm.write(f"--- {variant.name}, seed {seed}: {variant.change}")
            results.append(run_seed(variant, config, seed, train, val, info, out / variant.name / f"seed{seed}",
                                    progress))
    for (variant, _), result in zip(order, results):
        runs[variant.name].append(result)
    # the folder's other variants finished with every seed stay in its tables (a rerun with other --variants
    # replaced them); their LRN ranges are measured again, as cheaply as at the start
    earlier = [v for v in VARIANTS.values() if v.name not in runs and all(
        (out / v.name / f"seed{seed}" / "result.json").is_file() for seed in config.seed_list())]
    for variant in earlier:
        runs[variant.name] = [read_json(out / variant.name / f"seed{seed}" / "result.json")
                              for seed in config.seed_list()]
    if earlier:
        ranges.update(lrn_range_at_init(earlier, config, train, len(info["wnids"])))
        atomic.write_json(out / "lrn_range.json", ranges)
    tabled = [v for v in VARIANTS.values() if v.name in runs]
    runs = {v.name: runs[v.name] for v in tabled}  # table order
    return write_results(out, tabled, runs, config, describe_data(info, train, val), ranges)


def run_in_processes(out: Path, order: list[tuple[Variant, int]], config: AblationConfig, jobs: int,
                     progress: bool) -> list[dict[str, Any]]:
    """run_seed for every (variant, seed) of ``order`` in ``jobs`` processes, each held to its share of
    the cores: on this project's 2-core machine two one-thread runs did 1.2-1.5x the work of one
    run on both (2026-12-02). Results in the order given."""
    threads = max(1, count_threads() // jobs)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited locks or threads
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=limit_threads, initargs=(threads,)) as pool:
        futures = [pool.submit(run_one, str(out), variant.name, config, seed) for variant, seed in order]
        if progress:
            tqdm.write(f"{len(order)} runs, {jobs} at a time with {threads} thread(s) each; each logs to "
                       f"{out}/<variant>/seed<s>/train.log")
            for future in as_completed(futures):
                result = future.result()
                tqdm.write(f"{result['variant']}, seed {result['seed']}: finished, top-1 error "
                           f"{100 * (result['top1_error'] or float('nan')):.1f}%")
        return [future.result() for future in futures]


def run_one(out_dir: str, name: str, config: AblationConfig, seed: int) -> dict[str, Any]:
    """One run in a worker process of run_in_processes: open the data there, train, return the result."""
    out, config, chosen, train, val, info = prepare(out_dir, [name], config, progress=False, training=False)
    variant = next(v for v in chosen if v.name == name)
    return run_seed(variant, config, seed, train, val, info, out / name / f"seed{seed}", progress=False)


def run_seed(variant: Variant, config: AblationConfig, seed: int, train: Any, val: Any, info: dict,
             out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Train one variant with one seed for ``config.epochs`` epochs. Its result: validation top-1/top-5
    error after the last epoch with the centre crop and with ten crops, final training error, epochs
    to 25% training error, LRN's range after training, seconds, parameters, history.

    A finished run (``result.json`` present) is read back, not retrained; an interrupted one
    continues from its last checkpoint (``last.npz``, written after every epoch).
    """
    done = out_dir / "result.json"
    if done.is_file():
        if progress:
            tqdm.write(f"{variant.name}, seed {seed}: already finished, reading {done}")
        return read_json(done)
    device = resolve_device(config.device)
    classes = len(info["wnids"])
    gains = lrn_gains(variant, config, seed, train, classes, out_dir) if variant.lrn_gain else None
    model = build_model(config, classes, variant, seed, gains)
    optimizer = MomentumSGD(decay_groups(model, config.bias_decay), lr=config.lr, momentum=config.momentum,
                            weight_decay=config.weight_decay)
    loader = dict(crop=config.crop, device=device, workers=config.workers)
    train_loader = DataLoader(train, config.batch_size, train=True, seed=seed, **loader,
                              **{"pca": True, **variant.loader})
    val_loader = DataLoader(val, config.batch_size, train=False, **loader)
    start = time.perf_counter()
    diverged = None
    try:
        history = fit(model, train_loader, val_loader, optimizer, config.epochs, out_dir=out_dir, device=device,
                      resume=(out_dir / "last.npz").is_file(), quiet=not progress, data_info=info, mean=train.mean,
                      run_info={"ablation": variant.name, **asdict(config), "seed": seed})
    except NonFiniteLossError as exc:  # a result too: this variant does not train at this learning rate
        diverged = str(exc)
        last_good = out_dir / "last.npz"
        history = load_checkpoint(last_good)["meta"]["history"] if last_good.is_file() else []
    last = history[-1] if history and diverged is None else {}
    ten = {}
    trained_range = None
    if last:
        ten = evaluate(model, DataLoader(val, config.batch_size, train=False, ten_crop=True, **loader), device)
        if norm_layers(model) and not variant.lrn_gain:
            trained_range = measure_range(model, measurement_batch(train, config, seed, variant))
    result = {
        "variant": variant.name, "seed": seed,
        "top1_error": last.get("top1_error"), "top5_error": last.get("top5_error"),
        "top1_error_ten_crop": ten.get("top1_error"), "top5_error_ten_crop": ten.get("top5_error"),
        "train_error": 1.0 - last["train_accuracy"] if last else None,
        "epochs_to_threshold": epochs_to_error(history), "epochs": len(history),
        "seconds": sum(r["seconds"] for r in history), "parameters": model.num_parameters(),
        "lrn_gain": gains, "lrn_range_trained": trained_range,
        "checkpoint": str(out_dir / "last.npz"), "diverged": diverged, "history": history,
    }
    if progress:
        tqdm.write(f"{variant.name}, seed {seed}: this session {time.perf_counter() - start:.0f} s")
    atomic.write_json(done, result)
    return result


def describe_data(info: dict, train: Any, val: Any) -> str:
    where = "the embedded default (shapes10)" if info["source"] == "default" else info["root"]
    return (f"{where}: {len(info['wnids'])} classes, {len(train)} training and {len(val)} validation images, "
            f"stored at {info['size']}px, {info['crop']}px crops")
