"""The speed tables in README.md and docs/BENCHMARKS.md say what the saved benchmark output says."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAVED = ROOT / "docs" / "bench" / "cpu-2026-12-02b.json"  # `tinyalex bench --compare torch --json ...`, as run there
NETS = {"alexnet_small, 64 px": "small", "paper AlexNet, 224 px": "alexnet"}
ROW = re.compile(r"^\| (?P<net>[^|]+) \| (?P<job>train|inference) \| (?P<batch>\d+) \| (?P<ours>[\d.]+) \| "
                 r"(?P<theirs>[\d.]+) \| (?P<ratio>[\d.]+)x \((?P<low>[\d.]+)-(?P<high>[\d.]+)\) \| "
                 r"(?P<our_peak>\d+) / (?P<their_peak>\d+) \((?P<our_net>\d+) / (?P<their_net>\d+)\) \|$")


def speed_rows(path: Path) -> list[dict]:
    """The rows of the speed table (the one whose header starts '| net | job | batch |')."""
    return [m.groupdict() for m in map(ROW.match, path.read_text().splitlines()) if m]


def img_s(value: float) -> str:
    """images/s as the tables write them: one decimal below 100, none above."""
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


@pytest.mark.parametrize("page", ["README.md", "docs/BENCHMARKS.md"])
def test_every_row_of_the_speed_table_is_the_saved_measurement(page):
    saved = json.loads(SAVED.read_text())
    configs = {(c["model"], c["batch"]): c for c in saved["configs"]}
    rows = speed_rows(ROOT / page)
    assert len(rows) == 2 * len(configs)  # training and inference of every configuration measured
    for row in rows:
        job = configs[NETS[row["net"]], int(row["batch"])][row["job"]]
        ours, theirs, ratio = job["tinyalex"], job["torch"], job["ratio"]
        assert (row["ours"], row["theirs"]) == (img_s(ours["images_per_s"]), img_s(theirs["images_per_s"])), row
        assert (row["ratio"], row["low"], row["high"]) == tuple(f"{ratio[k]:.2f}" for k in ("median", "min", "max"))
        assert (row["our_peak"], row["their_peak"], row["our_net"], row["their_net"]) == (
            f"{ours['peak_mib']:.0f}", f"{theirs['peak_mib']:.0f}", f"{ours['net_mib']:.0f}", f"{theirs['net_mib']:.0f}")


def test_the_saved_measurement_ran_each_framework_in_its_own_process_over_rounds():
    saved = json.loads(SAVED.read_text())
    assert saved["rounds"] >= 3 and "own process" in saved["method"]
    assert saved["frameworks"]["torch"]["torch"].startswith("2.13")
    assert all(len(c[job]["ratio"]["rounds"]) == saved["rounds"] for c in saved["configs"] for job in ("train", "inference"))


def _mib(value: float) -> str:
    return f"{value:,.0f}"


def test_the_memory_paragraphs_state_the_saved_measurements():
    """BENCHMARKS' figures for the graph's nodes: the saved peak runs and the saved GPU-path estimate."""
    page = " ".join((ROOT / "docs" / "BENCHMARKS.md").read_text().split())
    sections = (ROOT / "docs" / "bench" / "cpu-peak-2026-12-02.txt").read_text().split("## ")[1:]
    before, after, torch = ([json.loads(line)["peak_mib"] for line in s.splitlines()[1:] if line] for s in sections)
    assert (f"gave {_mib(before[0])} and {_mib(before[1])} MiB before the change (two runs) and {_mib(after[0])} and "
            f"{_mib(after[1])} MiB after it") in page
    assert f"{_mib(torch[0])} MiB for PyTorch" in page
    estimate = (ROOT / "docs" / "bench" / "gpu-memory-estimate-2026-12-02.txt").read_text().split("## ")[1:]
    kept = r"after forward, for backward: ([\d,]+) MiB"
    peak = r"step 2: .* peak ([\d,]+) MiB"
    (kept_then, peak_then), (kept_now, peak_now) = ((re.search(kept, s)[1], re.search(peak, s)[1]) for s in estimate)
    assert f"{kept_now} MiB held by the graph after forward, a peak of {peak_now} MiB in the second step" in page
    assert f"{kept_then} and {peak_then} MiB" in page
    assert f"{int(kept_then.replace(',', '')) - int(kept_now.replace(',', ''))} MiB at batch 128" in page


def test_the_lrn_speed_up_is_the_range_of_the_saved_per_layer_tables():
    """README said 4.7-6.8x; the saved tables' LRN rows give 4.43x to 8.04x."""
    ratios = [float(line.split()[-1].rstrip("x")) for path in (ROOT / "docs" / "bench").glob("cpu-2026-12-02b-layers-*.txt")
              for line in path.read_text().splitlines() if line.startswith("norm")]
    assert len(ratios) == 4
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"({min(ratios):.1f}-{max(ratios):.1f}x faster than PyTorch's LRN, layer by layer" in readme


def test_pytorchs_slowdown_between_the_two_saved_runs_is_stated_as_measured():
    """Said 2.1-2.6x, which holds for training only (inference: 1.97-2.84x)."""
    now, morning = (json.loads((ROOT / "docs" / "bench" / name).read_text())
                    for name in ("cpu-2026-12-02b.json", "cpu-2026-12-02.json"))
    then = {(c["model"], c["batch"]): c for c in morning["configs"]}
    slower = {job: [then[c["model"], c["batch"]][job]["torch"]["images_per_s"] / c[job]["torch"]["images_per_s"]
                    for c in now["configs"]] for job in ("train", "inference")}
    every = slower["train"] + slower["inference"]
    stated = (f"PyTorch {min(every):.1f}-{max(every):.1f}x slower than the", f"({min(slower['train']):.1f}-"
              f"{max(slower['train']):.1f}x in training)")
    for page in ("README.md", "docs/BENCHMARKS.md"):
        text = " ".join((ROOT / page).read_text().split())
        assert all(part in text for part in stated), page
