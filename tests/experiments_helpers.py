"""A tiny copy of the embedded shapes set and a tiny model trained on it, for the experiments tests."""
import os
import signal
from pathlib import Path

from tinyalex.data.loader import DataLoader
from tinyalex.data.synthetic import ensure_default_dataset
from tinyalex.experiments import AblationConfig
from tinyalex.models import alexnet_small
from tinyalex.optim import MomentumSGD
from tinyalex.training import fit, open_datasets

CROP = 32  # 32x32 crops of 37x37 images
WIDTH = 0.0625  # conv1 has 6 kernels (3 per tower), fc6/fc7 256 units


def shapes_folder(root: Path, train_per_class: int = 4, val_per_class: int = 2) -> Path:
    """The embedded set's ten classes with a few real JPEGs each, in the ImageNet layout."""
    return ensure_default_dataset(root, train_per_class, val_per_class, progress=False)


def tiny_config(folder: Path, **overrides) -> AblationConfig:
    """An ablation that trains each variant for one epoch of 20 images: seconds on a CPU."""
    settings = dict(data=str(folder), model="small", width=WIDTH, crop=CROP, epochs=1, batch_size=10, lr=0.01,
                    train_images=20, val_images=10, workers=1)
    settings.update(overrides)
    return AblationConfig(**settings)


def train_tiny_model(folder: Path, out: Path, epochs: int = 2):
    """Train the tiny net on ``folder`` (a few steps) and return (model, train set, val set, checkpoint path)."""
    train, val, info = open_datasets(folder, CROP, progress=False)
    model = alexnet_small(len(info["wnids"]), input_size=CROP, width=WIDTH, seed=1)
    loaders = [DataLoader(ds, 10, train=t, crop=CROP, seed=0, workers=1) for ds, t in ((train, True), (val, False))]
    fit(model, *loaders, MomentumSGD(model.parameters(), lr=0.01), epochs, out_dir=out, quiet=True,
        data_info=info)
    return model, train, val, out / "last.npz"


def ablate_until_killed(folder: Path, out: Path, variants: list, kill: str, epoch: int, **overrides) -> None:
    """Run a tiny ablation and SIGKILL this process as soon as run ``kill`` (e.g. "lrn_gain/seed1") has
    saved epoch ``epoch``: what a power cut or the OOM killer leaves behind (no handler runs)."""
    import tinyalex.experiments.ablation as ablation

    real_fit = ablation.fit

    def fit(*args, **kwargs):
        if Path(kwargs["out_dir"]).as_posix().endswith(kill):
            kwargs["callbacks"] = [lambda record: record["epoch"] == epoch and os.kill(os.getpid(), signal.SIGKILL)]
        return real_fit(*args, **kwargs)

    ablation.fit = fit
    ablation.run_ablation(out, variants, tiny_config(folder, **overrides), progress=False)
