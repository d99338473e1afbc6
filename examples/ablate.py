"""Does LRN normalise, or only scale? The baseline, no LRN and LRN's gain control with two seeds each on
the embedded shapes set, then the figures of the baseline model (first-layer kernels, nearest neighbours,
confusion matrix).

    python examples/ablate.py [OUT]          # default OUT: runs/example-ablate

Each run trains on the same 1000 images for 3 epochs; the seeds 0 and 1 are shared by the variants.
On a 2-core CPU the whole script takes several minutes. `tinyalex ablate --seeds 3` runs the paper's
variants; `--variants lrn` the whole LRN study (tinyalex.experiments.lrn).
"""
import sys
from pathlib import Path

from tinyalex.experiments import AblationConfig, run_ablation
from tinyalex.experiments.figures import write_model_figures

if len(sys.argv) > 2 or sys.argv[1:2] and sys.argv[1].startswith("-"):  # --help, or anything but one folder
    sys.exit(__doc__)
out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/example-ablate")
config = AblationConfig(epochs=3, train_images=1000, val_images=500, seeds=2)
results = run_ablation(out, ["baseline", "no_lrn", "lrn_gain"], config)

for name, entry in results["variants"].items():
    top1, diff = entry["top1_error"], entry["vs_baseline"]["top1_error"]
    verdict = "resolved" if diff["resolved"] else "not resolved"
    print(f"{name:>9}: top-1 error {top1['mean']:.1%} ± {top1['sd']:.1%} over {top1['n']} seeds; "
          f"difference from the baseline {diff['mean']:+.1%} ({verdict})")
print((out / "results.md").read_text())

figures = write_model_figures(out / "baseline" / "seed0" / "last.npz", out / "figures", queries=4, neighbours=5)
print("most confused (true -> predicted: images):", figures.confused[:3])
print("figures:", ", ".join(str(p) for p in figures.paths.values()))
