"""Plain-text tables of the benchmark's results."""
from __future__ import annotations


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


def steps_table(results: dict) -> str:
    """One row per (batch, job): time, images/s for each framework, and the speed ratio."""
    compare = any("torch" in r for r in results["configs"])
    header = ["configuration", "tinyalex ms", "tinyalex img/s"]
    if compare:
        header += ["PyTorch ms", "PyTorch img/s", "ratio"]
    rows = []
    for config in results["configs"]:
        batch = config["batch"]
        for job in ("train", "inference"):
            ours = config["tinyalex"][job]
            row = [f"{job} step, batch {batch}" if job == "train" else f"inference, batch {batch}",
                   f"{ours * 1e3:.0f}", f"{batch / ours:.1f}"]
            if compare:
                theirs = config.get("torch", {}).get(job)
                row += [f"{theirs * 1e3:.0f}", f"{batch / theirs:.1f}", speed_ratio(ours, theirs)] if theirs else ["-", "-", "-"]
            rows.append(row)
    return table(header, rows)


def layers_table(layers: dict, batch: int) -> str:
    """Forward and backward ms per layer, each framework's share of its total, and the speed ratio."""
    compare = any("torch" in timing for timing in layers.values())
    totals = {fw: sum(sum(t[fw]) for t in layers.values()) for fw in ("tinyalex", "torch") if compare or fw == "tinyalex"}
    header = ["layer", "fwd ms", "bwd ms", "share"]
    if compare:
        header += ["PyTorch fwd", "PyTorch bwd", "share", "ratio"]
    rows = []
    for name, timing in layers.items():
        fwd, bwd = timing["tinyalex"]
        row = [name, f"{fwd * 1e3:.1f}", f"{bwd * 1e3:.1f}", f"{(fwd + bwd) / totals['tinyalex']:.0%}"]
        if compare:
            tf, tb = timing["torch"]
            row += [f"{tf * 1e3:.1f}", f"{tb * 1e3:.1f}", f"{(tf + tb) / totals['torch']:.0%}", speed_ratio(fwd + bwd, tf + tb)]
        rows.append(row)
    total = ["total", f"{sum(t['tinyalex'][0] for t in layers.values()) * 1e3:.0f}",
             f"{sum(t['tinyalex'][1] for t in layers.values()) * 1e3:.0f}", "100%"]
    if compare:
        total += [f"{sum(t['torch'][0] for t in layers.values()) * 1e3:.0f}",
                  f"{sum(t['torch'][1] for t in layers.values()) * 1e3:.0f}", "100%",
                  speed_ratio(totals["tinyalex"], totals["torch"])]
    rows.append(total)
    return f"per layer, batch {batch} (ratio = tinyalex speed / PyTorch speed; > 1 is faster)\n" + table(header, rows)


def peak_table(peaks: list[dict]) -> str:
    """Peak memory per framework and batch size."""
    gpu = any("gpu_peak_mib" in p for p in peaks)
    header = ["framework", "batch", "peak RSS MiB", "of which imports"] + (["GPU peak MiB"] if gpu else [])
    rows = [[p["framework"], str(p["batch"]), f"{p['peak_mib']:.0f}", f"{p['imports_mib']:.0f}"]
            + ([f"{p['gpu_peak_mib']:.0f}"] if gpu else []) for p in peaks]
    return table(header, rows)
