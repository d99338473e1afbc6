"""Which nets and batch sizes `tinyalex bench` times, with how many steps: the default list and its narrowing."""
from __future__ import annotations

from dataclasses import dataclass

from tinyalex.bench.networks import MODELS

# The net people train on a CPU (what `tinyalex train` trains) and the paper's, at the paper's batch 128 too.
DEFAULT_PAIRS = (("small", 64), ("alexnet", 32), ("alexnet", 128))


@dataclass(frozen=True)
class Config:
    """One net at one batch size, timed `steps` steps after `warmup` untimed ones in every child."""

    model: str
    batch: int
    steps: int
    warmup: int


def default_steps(model: str, batch: int) -> tuple[int, int]:
    """(steps, warmup) that keep a default run to a few minutes on 2 cores.

    A step of the paper's net at batch 128 takes several seconds on a CPU and one warm-up step
    already touches every buffer; alexnet_small's steps are a fraction of a second.
    """
    if model == "small":
        return 10, 2
    return (3, 2) if batch < 128 else (2, 1)


def select(models: list[str] | None = None, batches: list[int] | None = None, steps: int | None = None,
           warmup: int | None = None) -> list[Config]:
    """The default pairs, narrowed to `models` or to `batches`; with both, every model at every batch size.

    `steps` and `warmup` replace each configuration's own. Raises ValueError when nothing is left.
    """
    unknown = sorted(set(models or []) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; choose from {sorted(MODELS)}")
    if models and batches:
        pairs = [(model, batch) for model in models for batch in batches]
    else:
        pairs = [(m, b) for m, b in DEFAULT_PAIRS if (not models or m in models) and (not batches or b in batches)]
    if not pairs:
        raise ValueError(f"no default configuration has batch size {' or '.join(map(str, batches or []))}; "
                         f"name the net too, e.g. --model small --batch-size {(batches or [1])[0]}")
    configs = []
    for model, batch in pairs:
        own_steps, own_warmup = default_steps(model, batch)
        configs.append(Config(model, batch, own_steps if steps is None else steps,
                              own_warmup if warmup is None else warmup))
    return configs
