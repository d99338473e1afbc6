"""The ablation's report: per-variant statistics over seeds (results.json), the Markdown and CSV tables,
and the figures. The statistics and the 'not resolved' rule are experiments.seeds'."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tinyalex.data import atomic
from tinyalex.experiments.curves import THRESHOLD, plot_relu_tanh, plot_variant_curves
from tinyalex.experiments.output import save_png, write_text
from tinyalex.experiments.seeds import RULE, paired_difference, summarize
from tinyalex.experiments.variants import Variant
from tinyalex.experiments.verdict import verdict

# The errors of every run, each summarised over seeds and compared with the baseline.
METRICS = {"top1_error": "top-1 centre", "top5_error": "top-5 centre",
           "top1_error_ten_crop": "top-1 ten crops", "top5_error_ten_crop": "top-5 ten crops"}


def reach_summary(runs: list[int | None]) -> dict[str, Any]:
    """Epochs to 25% training error over seeds: ``runs`` holds None for a run that never reached it
    within the budget. The mean and sd are given only when every run reached it (else None), since a
    run that did not reach it has no number; ``not_reached`` counts those runs."""
    missing = sum(r is None for r in runs)
    stats = {**summarize(runs), "runs": list(runs)}  # whole epochs stay whole
    if missing:
        stats.update(mean=None, sd=None)
    return {**stats, "not_reached": missing, "threshold": THRESHOLD}


def differences(runs: list[dict], against: list[dict]) -> dict[str, Any]:
    """Paired per-seed differences of every metric, ``runs`` - ``against`` (the same seeds, in order)."""
    return {m: paired_difference([r[m] for r in runs], [r[m] for r in against]) for m in METRICS}


def summarize_variant(variant: Variant, runs: list[dict], all_runs: dict[str, list[dict]]) -> dict[str, Any]:
    """One variant's entry of results.json: every metric's {"mean", "sd", "runs", "n"}, the differences
    from the baseline (and from its own reference, for a control), and what the variant is."""
    entry: dict[str, Any] = {m: summarize([r[m] for r in runs]) for m in METRICS}
    entry["train_error"] = summarize([r["train_error"] for r in runs])
    entry["epochs_to_threshold"] = reach_summary([r["epochs_to_threshold"] for r in runs])
    entry["seconds"] = summarize([r["seconds"] for r in runs])
    entry["vs_baseline"] = differences(runs, all_runs["baseline"])
    if variant.reference != "baseline":
        entry["vs_reference"] = {"reference": variant.reference, **differences(runs, all_runs[variant.reference])}
    entry.update(
        seeds=[r["seed"] for r in runs], diverged={str(r["seed"]): r["diverged"] for r in runs if r["diverged"]},
        change=variant.change, claim=variant.claim, short_claim=variant.short_claim,
        paper_top1=variant.paper_top1, paper_top5=variant.paper_top5, expects=variant.expects,
        parameters=runs[0]["parameters"],
    )
    if variant.lrn_gain:
        entry["lrn_gain"] = [r["lrn_gain"] for r in runs]
    return entry


def aggregate(chosen: list[Variant], runs: dict[str, list[dict]]) -> dict[str, Any]:
    """results.json: {"variants": {name: summarize_variant(...)}} in table order, baseline first."""
    return {"variants": {v.name: summarize_variant(v, runs[v.name], runs) for v in chosen}}


# --- text -------------------------------------------------------------------------------------

def pct(stats: dict[str, Any]) -> str:
    """A summary in %: "mean ± sd", or the mean alone with one run; "-" without a value."""
    if stats["mean"] is None:
        return "-"
    return f"{100 * stats['mean']:.1f}" + ("" if stats["sd"] is None else f" ± {100 * stats['sd']:.1f}")


def points(diff: dict[str, Any]) -> str:
    """A paired difference in percentage points, "mean ± sd", with "n.r." when not resolved."""
    if diff["mean"] is None:
        return "-"
    mean = round(100 * diff["mean"], 1) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0
    text = f"{mean:+.1f}" + ("" if diff["sd"] is None else f" ± {100 * diff['sd']:.1f}")
    return text if diff["resolved"] else f"{text} n.r."


def epochs(stats: dict[str, Any]) -> str:
    if stats["not_reached"] == 0:
        return f"{stats['mean']:.1f}" + ("" if stats["sd"] is None else f" ± {stats['sd']:.1f}")
    reached = [str(r) for r in stats["runs"] if r is not None]
    others = f" (others: {', '.join(reached)})" if reached else ""
    return f"not reached in {stats['not_reached']} of {len(stats['runs'])}{others}"


def paper_claim(entry: dict[str, Any]) -> str:
    if entry["paper_top1"] is None:
        return entry["short_claim"]
    top5 = "-" if entry["paper_top5"] is None else f"{entry['paper_top5']:+.1f}"
    return f"{entry['paper_top1']:+.1f} / {top5}"


def errors_table(results: dict[str, Any]) -> str:
    """Mean ± sd over seeds of each error (%), training error and epochs to 25% training error."""
    lines = ["| variant | " + " | ".join(f"{label} err %" for label in METRICS.values()) +
             f" | train err % | epochs to {THRESHOLD:.0%} train err | seeds |",
             "|---|" + "---:|" * (len(METRICS) + 2) + "---|"]
    for name, e in results["variants"].items():
        top1 = pct(e["top1_error"]) + (f" ({len(e['diverged'])} diverged)" if e["diverged"] else "")
        cells = [top1] + [pct(e[m]) for m in list(METRICS)[1:]]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {pct(e['train_error'])} | "
                     f"{epochs(e['epochs_to_threshold'])} | {len(e['seeds'])} |")
    return "\n".join(lines) + "\n"


def differences_table(results: dict[str, Any], key: str = "vs_baseline") -> str:
    """Each variant's paired difference (percentage points) from the baseline, or with ``key``
    "vs_reference" from the control's own reference."""
    against = "| against " if key == "vs_reference" else ""
    lines = [f"| variant {against}| " + " | ".join(f"Δ {label}" for label in METRICS.values()) +
             " | paper's Δ top-1 / top-5 |",
             "|---|" + ("---|" if against else "") + "---:|" * len(METRICS) + "---|"]
    for name, e in results["variants"].items():
        if key not in e or (key == "vs_baseline" and name == "baseline"):
            continue
        ref = f"| {e[key]['reference']} " if against else ""
        lines.append(f"| {name} {ref}| " + " | ".join(points(e[key][m]) for m in METRICS) +
                     f" | {paper_claim(e)} |")
    return "\n".join(lines) + "\n"


def claims_table(results: dict[str, Any]) -> str:
    """Each variant's difference from the baseline beside the paper's claim, and whether the runs agree
    with it, disagree or leave it unresolved (experiments.verdict)."""
    lines = ["| variant | Δ top-1 centre | Δ top-5 centre | paper's Δ top-1 / top-5 | these runs |",
             "|---|---:|---:|---|---|"]
    base = results["variants"]["baseline"]
    for name, e in results["variants"].items():
        if name != "baseline":
            lines.append(f"| {name} | {points(e['vs_baseline']['top1_error'])} | "
                         f"{points(e['vs_baseline']['top5_error'])} | {paper_claim(e)} | {verdict(e, base)} |")
    return "\n".join(lines) + "\n"


def lrn_table(ranges: dict[str, Any], trained: dict[str, Any] | None = None) -> str:
    """alpha * sum(a^2) per LRN layer (median, 95th percentile, max) beside k, and the gain b/a, at
    initialisation; with ``trained`` (variant -> measure_range after training) its median and 95th
    percentile too."""
    header = "| variant | layer | alpha | k | alpha·Σa² median | 95th pct | max | gain b/a mean ± sd |"
    rule = "|---|---|---:|---:|---:|---:|---:|---:|"
    if trained:
        header += " after training: median | 95th pct | gain |"
        rule += "---:|---:|---:|"
    lines = [header, rule]
    for name, layers in ranges.items():
        for layer, r in layers.items():
            line = (f"| {name} | {layer} | {r['alpha']:.3g} | {r['k']:g} | {r['median']:.3g} | {r['p95']:.3g} | "
                    f"{r['max']:.3g} | {r['gain_mean']:.3f} ± {r['gain_sd']:.3f} |")
            if trained:
                t = (trained.get(name) or {}).get(layer)
                line += (f" {t['median']:.3g} | {t['p95']:.3g} | {t['gain_mean']:.3f} ± {t['gain_sd']:.3f} |" if t
                         else " - | - | - |")
            lines.append(line)
    return "\n".join(lines) + "\n"


def relu_tanh_lines(runs: dict[str, list[dict]]) -> list[str]:
    """Figure 1's measure per seed: epochs to 25% training error with ReLU and with tanh, and their ratio."""
    if "baseline" not in runs or "tanh" not in runs:
        return []
    lines = ["", f"ReLU against tanh (Figure 1's measure): epochs to {THRESHOLD:.0%} training error per seed "
                 "(the paper: ReLU six times faster, on CIFAR-10 with a four-layer net):", ""]
    for relu, tanh in zip(runs["baseline"], runs["tanh"]):
        a, b = relu["epochs_to_threshold"], tanh["epochs_to_threshold"]
        if a is not None and b is not None:
            verdict = f"tanh took {b / a:.1f} times as many epochs"
        elif a is not None:
            verdict = f"tanh took more than {relu['epochs'] / a:.1f} times as many (not reached in {tanh['epochs']})"
        else:
            verdict = "the ratio cannot be measured within this budget"
        lines.append(f"- seed {relu['seed']}: ReLU {a if a is not None else 'not reached'}, "
                     f"tanh {b if b is not None else 'not reached'} ({verdict})")
    return lines


def notes(results: dict[str, Any], config: Any, data: str) -> str:
    """What the tables were measured on, how to read them, and what each variant changes and claims."""
    base = results["variants"]["baseline"]
    model = f"{config.model} AlexNet" + (f", width {config.width}" if config.width is not None else "")
    model += (f", {config.init} initialisation" if config.init else
              ", its default initialisation (small: He's with unit-scale pixels; alexnet: the paper's)")
    seeds = config.seed_list()
    lines = [
        f"- Data: {data}.",
        f"- Model: {model}, {base['parameters']:,} parameters in the baseline.",
        f"- Budget per run: {config.epochs} epochs, batch {config.batch_size}, momentum SGD lr {config.lr} "
        f"(momentum {config.momentum}, weight decay {config.weight_decay} on "
        f"{'weights and biases' if config.bias_decay else 'weights only'}, no schedule), device {config.device}.",
        f"- Seeds: {len(seeds)} per variant ({', '.join(map(str, seeds))}), shared by every variant; each sets the "
        "initial weights, dropout masks, data order and augmentation. sd is the sample standard deviation over "
        "seeds (ddof = 1).",
        "- Errors: validation set after the last epoch, with the centre crop and with the average of ten crops' "
        "softmax outputs. Training error is measured while training (dropout and augmentation on).",
        "- Δ = variant - baseline in percentage points, as the mean ± sd of the paired per-seed differences: "
        "positive means taking the choice away hurt, as the paper's claim predicts. " + RULE + ".",
        "- The paper's numbers are for ImageNet (1.2 million images, 1000 classes, about 90 epochs). On a small set "
        "with a short budget the differences need not match them, in size or in sign.",
        "",
        "Variants and the paper's claims:",
        "",
    ]
    lines += [f"- `{name}`: {e['change']}. Paper: {e['claim']}." for name, e in results["variants"].items()]
    lines += [f"- `{name}` diverged with seed {seed}: {why}" for name, e in results["variants"].items()
              for seed, why in e["diverged"].items()]
    return "\n".join(lines) + "\n"


def markdown(results: dict[str, Any], runs: dict[str, list[dict]], config: Any, data: str,
             ranges: dict[str, Any]) -> str:
    """results.md: the errors, the differences (with the n.r. footnote), the controls, LRN's range, Figure 1."""
    seeds = config.seeds
    parts = [
        "# Ablations\n",
        f"Mean ± sd over {seeds} seed{'s' if seeds > 1 else ''} (sample sd, ddof = 1); errors in %.\n",
        errors_table(results),
        "Differences from the baseline, in percentage points (mean ± sd of the paired per-seed differences):\n",
        differences_table(results),
        f"{RULE}.\n",
        "Against the paper's claims (the direction only: agrees or disagrees when resolved by the rule above):\n",
        claims_table(results),
    ]
    if any("vs_reference" in e for e in results["variants"].values()):
        parts += ["Controls against their own reference, in percentage points:\n",
                  differences_table(results, "vs_reference")]
    if ranges:
        trained = {name: runs[name][0]["lrn_range_trained"] for name in ranges if name in runs}
        parts += [f"LRN: alpha · Σ a² over the window against k, at initialisation (seed {config.seed}, one "
                  f"training batch) and after training (seed {config.seed}); gain b/a over a ≠ 0:\n",
                  lrn_table(ranges, trained)]
    figure1 = relu_tanh_lines(runs)
    if figure1:
        parts.append("\n".join(figure1[1:]) + "\n")
    parts.append(notes(results, config, data))
    return "\n".join(p for p in parts if p)


# --- files ------------------------------------------------------------------------------------

def csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def variant_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """results.csv: one row per variant, errors as fractions, differences in fractions too."""
    rows = []
    for name, e in results["variants"].items():
        row: dict[str, Any] = {"variant": name, "seeds": len(e["seeds"])}
        for m in METRICS:
            d = e["vs_baseline"][m]
            row.update({f"{m}_mean": e[m]["mean"], f"{m}_sd": e[m]["sd"], f"delta_{m}_mean": d["mean"],
                        f"delta_{m}_sd": d["sd"], f"delta_{m}_resolved": d["resolved"]})
        reach = e["epochs_to_threshold"]
        row.update(train_error_mean=e["train_error"]["mean"], train_error_sd=e["train_error"]["sd"],
                   epochs_to_threshold_mean=reach["mean"], epochs_to_threshold_not_reached=reach["not_reached"],
                   paper_top1=e["paper_top1"], paper_top5=e["paper_top5"], diverged=len(e["diverged"]))
        rows.append(row)
    return rows


def run_rows(runs: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """runs.csv: one row per variant and seed."""
    keys = ("variant", "seed", *METRICS, "train_error", "epochs_to_threshold", "epochs", "seconds", "diverged")
    return [{k: r[k] for k in keys} for variant_runs in runs.values() for r in variant_runs]


def write_results(out_dir: Path, chosen: list[Variant], runs: dict[str, list[dict]], config: Any, data: str,
                  ranges: dict[str, Any]) -> dict[str, Any]:
    """results.json, results.md, results.csv, runs.csv, curves.png and (with tanh) figure1.png; returns
    what results.json holds."""
    results = aggregate(chosen, runs)
    atomic.write_json(out_dir / "results.json", results)
    write_text(out_dir / "results.md", markdown(results, runs, config, data, ranges))
    write_text(out_dir / "results.csv", csv_text(variant_rows(results)))
    write_text(out_dir / "runs.csv", csv_text(run_rows(runs)))
    histories = {name: [r["history"] for r in variant_runs] for name, variant_runs in runs.items()}
    save_png(plot_variant_curves(histories), out_dir / "curves.png")
    if "tanh" in histories:
        save_png(plot_relu_tanh(histories["baseline"], histories["tanh"]), out_dir / "figure1.png")
    return results
