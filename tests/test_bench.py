"""`tinyalex bench` on a tiny network: the tables, the JSON, PyTorch's twin and the memory child (nothing is timed against a target)."""
import json

import numpy as np
import pytest

from tinyalex.bench.networks import build_alexnet, torch_twin
from tinyalex.bench.timing import Job, alternate
from tinyalex.cli.main import main

TINY = ["--batch-size", "2", "--image-size", "64", "--width", "0.0625", "--repeats", "1", "--warmup", "0", "--device", "cpu"]


def test_bench_prints_steps_and_layers_and_writes_json(capsys, tmp_path):
    assert main(["bench", *TINY, "--layers", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "train step, batch 2" in out and "inference, batch 2" in out
    layer_rows = [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0].startswith(("conv", "norm", "pool", "fc"))]
    assert layer_rows == ["conv1", "norm1", "pool1", "conv2", "norm2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"]
    results = json.loads((tmp_path / "r.json").read_text())
    train = results["configs"][0]["tinyalex"]["train"]
    assert train > 0 and "torch" not in results["configs"][0]
    assert set(results["layers"]["conv2"]) == {"tinyalex"}
    assert results["environment"]["numpy"].startswith(np.__version__)


def test_compare_torch_prints_ratios_and_peak_memory(capsys, tmp_path):
    pytest.importorskip("torch")
    assert main(["bench", *TINY, "--compare", "torch", "--peak", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("configuration"))
    assert header.split()[-1] == "ratio" and "PyTorch img/s" in header
    results = json.loads((tmp_path / "r.json").read_text())
    config = results["configs"][0]
    assert config["torch"]["train"] > 0
    assert config["logits_max_relative_difference"] < 1e-4  # the same network with the same weights
    peaks = {p["framework"]: p for p in results["peaks"]}
    assert set(peaks) == {"tinyalex", "torch"}
    assert peaks["torch"]["imports_mib"] > peaks["tinyalex"]["imports_mib"]  # torch's libraries are counted
    assert all(p["peak_mib"] >= p["imports_mib"] > 0 for p in peaks.values())


def test_torch_twin_converts_lrn_alpha_and_copies_weights():
    torch = pytest.importorskip("torch")
    model = build_alexnet(64, 0.0625)
    twin = torch_twin(model, torch, "cpu")
    assert twin.norm1.alpha == pytest.approx(model.norm1.alpha * model.norm1.size)
    assert twin.conv2.groups == 2
    np.testing.assert_array_equal(twin.fc8.weight.detach().numpy(), model.fc8.weight.data)


def test_alternate_takes_the_median_of_the_timed_rounds_only():
    calls = {"a": 0, "b": 0}
    order = []

    def job(name):
        def run():
            calls[name] += 1
            order.append(name)
        return Job(run)

    times = alternate({"a": job("a"), "b": job("b")}, repeats=3, warmup=2)
    assert calls == {"a": 5, "b": 5} and order[:4] == ["a", "b", "a", "b"]  # alternated, warm-ups included
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())


def test_bad_arguments_are_refused(capsys):
    assert main(["bench", "--batch-size", "0", "--device", "cpu"]) == 2
    assert "at least 1" in capsys.readouterr().err
