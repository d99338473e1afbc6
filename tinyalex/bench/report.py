"""Plain-text tables of the benchmark's results (the dict that suite.run_benchmark returns)."""
from __future__ import annotations

NAMES = {"tinyalex": "tinyalex", "torch": "PyTorch"}


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def speed_ratio(ours_seconds: float, torch_seconds: float) -> str:
    """tinyalex's speed over PyTorch's for the same work: above 1x tinyalex is faster."""
    return f"{torch_seconds / ours_seconds:.2f}x"


def _label(config: dict, job: str) -> str:
    return f"{config['model']} {config['image_size']}px, {job}, batch {config['batch']}"


def _frameworks(results: dict) -> list[str]:
    return [fw for fw in NAMES if any(fw in config["train"] for config in results["configs"])]


def steps_table(results: dict) -> str:
    """One row per configuration and job: ms per step and images/s per framework, the ratio and its spread."""
    frameworks = _frameworks(results)
    header = ["configuration"]
    for fw in frameworks:
        header += [f"{NAMES[fw]} ms", f"{NAMES[fw]} img/s"]
    if "torch" in frameworks:
        header += ["ratio", "min-max"]
    rows = []
    for config in results["configs"]:
        for job in ("train", "inference"):
            row = [_label(config, job)]
            for fw in frameworks:
                row += [f"{config[job][fw]['seconds'] * 1e3:.0f}", f"{config[job][fw]['images_per_s']:.1f}"]
            if "ratio" in config[job]:
                ratio = config[job]["ratio"]
                row += [f"{ratio['median']:.2f}x", f"{ratio['min']:.2f}-{ratio['max']:.2f}"]
            rows.append(row)
    return table(header, rows)


def memory_table(results: dict) -> str:
    """Peak resident memory per framework (the highest round), whole process and net of the imports."""
    frameworks = _frameworks(results)
    gpu = results["device"] == "gpu"
    header = ["MiB"]
    for fw in frameworks:
        header += [f"{NAMES[fw]} peak", "net of imports"] + ([f"{NAMES[fw]} GPU"] if gpu else [])
    rows = []
    for config in results["configs"]:
        for job in ("train", "inference"):
            row = [_label(config, job)]
            for fw in frameworks:
                memory = config[job][fw]
                row += [f"{memory['peak_mib']:.0f}", f"{memory['net_mib']:.0f}"]
                row += [f"{memory['gpu_peak_mib']:.0f}"] if gpu else []
            rows.append(row)
    return table(header, rows)


def layers_table(layers: dict) -> str:
    """Forward and backward ms per layer, each framework's share of its total, and the speed ratio."""
    frameworks = [fw for fw in NAMES if fw in layers]
    ours = layers["tinyalex"]
    totals = {fw: sum(f + b for f, b in layers[fw].values()) for fw in frameworks}
    header = ["layer", "fwd ms", "bwd ms", "share"]
    if "torch" in frameworks:
        header += ["PyTorch fwd", "PyTorch bwd", "share", "ratio"]
    rows = []
    for name, (fwd, bwd) in ours.items():
        row = [name, f"{fwd * 1e3:.1f}", f"{bwd * 1e3:.1f}", f"{(fwd + bwd) / totals['tinyalex']:.0%}"]
        if "torch" in frameworks:
            tf, tb = layers["torch"][name]
            row += [f"{tf * 1e3:.1f}", f"{tb * 1e3:.1f}", f"{(tf + tb) / totals['torch']:.0%}",
                    speed_ratio(fwd + bwd, tf + tb)]
        rows.append(row)
    total = ["total"]
    for fw in frameworks:
        total += [f"{sum(f for f, _ in layers[fw].values()) * 1e3:.0f}",
                  f"{sum(b for _, b in layers[fw].values()) * 1e3:.0f}", "100%"]
    if "torch" in frameworks:
        total.append(speed_ratio(totals["tinyalex"], totals["torch"]))
    rows.append(total)
    return (f"per layer, {layers['model']} batch {layers['batch']}, each framework in its own process "
            "(ratio = tinyalex speed / PyTorch speed; > 1 is faster)\n" + table(header, rows))


def same_network_lines(reports: dict) -> list[str]:
    """One line per net: passed or not, the largest differences and the input dependence; the problems if any."""
    lines = ["same network (eval mode, re-drawn weights; max relative difference of every layer's output and of "
             "every gradient, after one backward):"]
    for model, report in reports.items():
        verdict = "same" if report["passed"] else "DIFFERENT"
        worst = {kind: max(report[kind].items(), key=lambda item: item[1], default=("-", 0.0))
                 for kind in ("forward", "gradients")}
        lines.append(f"  {model} {report['image_size']}px: {verdict}; forward <= {worst['forward'][1]:.1e} "
                     f"({worst['forward'][0]}), gradients <= {worst['gradients'][1]:.1e} ({worst['gradients'][0]}), "
                     f"tolerance {report['rtol']:.0e}; "
                     f"logits' dependence on the input {report['input_dependence']:.2f}")
        lines += [f"    {problem}" for problem in report["problems"]]
    return lines


def environment_lines(results: dict) -> list[str]:
    """The host, then each framework's versions and threads as its child process saw them."""
    env = results["environment"]
    lines = [f"tinyalex bench on {results['device']}, float32, rounds {results['rounds']}: {results['method']}",
             "host: " + "; ".join(f"{key} {value}" for key, value in env.items() if value != {})]
    for fw, child in results["frameworks"].items():
        lines.append(f"{NAMES[fw]} child: " + "; ".join(f"{key} {value}" for key, value in child.items()))
    return lines


def format_results(results: dict) -> str:
    """Everything as text: environment, same-network check, speed, memory, layers."""
    lines = [*environment_lines(results), ""]
    if results["same_network"]:
        lines += [*same_network_lines(results["same_network"]), ""]
    if results["configs"]:
        lines += [steps_table(results), ""]
        lines += ["peak memory of each child in MiB (VmHWM after the network is built; net = peak - RSS after imports)",
                  memory_table(results), ""]
    if "layers" in results:
        lines += [layers_table(results["layers"]), ""]
    return "\n".join(lines)
