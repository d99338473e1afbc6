"""What do LRN and tanh cost? Three of the paper's ablations on the embedded shapes set, then the
figures of the baseline model (first-layer kernels, nearest neighbours, confusion matrix).

    python examples/ablate.py [OUT]          # default OUT: runs/example-ablate

Each variant trains on the same 1000 images for the same 3 epochs with the same seed; on a 2-core
CPU the whole script takes a few minutes. `tinyalex ablate` runs all seven variants.
"""
import sys
from pathlib import Path

from tinyalex.experiments import AblationConfig, run_ablation
from tinyalex.experiments.figures import write_model_figures

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/example-ablate")
config = AblationConfig(epochs=3, train_images=1000, val_images=500)
results = run_ablation(out, ["baseline", "no_lrn", "tanh"], config)

for r in results:
    print(f"{r['variant']:>9}: top-1 error {r['top1_error']:.1%}, training error {r['train_error']:.1%}")
print((out / "results.md").read_text())

figures = write_model_figures(out / "baseline" / "last.npz", out / "figures", queries=4, neighbours=5)
print("most confused (true -> predicted: images):", figures.confused[:3])
print("figures:", ", ".join(str(p) for p in figures.paths.values()))
