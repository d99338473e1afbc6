"""`tinyalex bench` end to end on a tiny network, real child processes: the tables, the JSON, the check (nothing is
timed against a target)."""
import json

import numpy as np
import pytest

from tinyalex.bench.networks import build_model, torch_twin
from tinyalex.cli.main import main

TINY = ["--model", "alexnet", "--batch-size", "2", "--image-size", "64", "--width", "0.0625", "--rounds", "1",
        "--steps", "1", "--warmup", "0", "--device", "cpu"]


def test_bench_prints_steps_memory_and_layers_and_writes_json(capsys, tmp_path):
    assert main(["bench", *TINY, "--layers", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "alexnet 64px, train, batch 2" in out and "alexnet 64px, inference, batch 2" in out
    layer_rows = [line.split()[0] for line in out.splitlines()
                  if line.split() and line.split()[0].startswith(("conv", "norm", "pool", "fc"))]
    assert layer_rows == ["conv1", "norm1", "pool1", "conv2", "norm2", "pool2", "conv3", "conv4", "conv5", "pool5",
                          "fc6", "fc7", "fc8"]
    results = json.loads((tmp_path / "r.json").read_text())
    config = results["configs"][0]
    assert (config["model"], config["batch"], config["image_size"], config["width"]) == ("alexnet", 2, 64, 0.0625)
    train = config["train"]["tinyalex"]
    assert train["seconds"] > 0 and len(train["rounds"]) == 1 and train["peak_mib"] > train["net_mib"] > 0
    assert "torch" not in config["train"] and results["same_network"] == {}
    assert results["environment"]["numpy"].startswith(np.__version__)
    assert set(results["layers"]) == {"model", "batch", "tinyalex"}


def test_compare_torch_checks_the_network_and_prints_ratios(capsys, tmp_path):
    pytest.importorskip("torch")
    assert main(["bench", *TINY, "--rounds", "2", "--compare", "torch", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("configuration"))
    assert header.split()[-2:] == ["ratio", "min-max"] and "PyTorch img/s" in header
    assert "alexnet 64px: same;" in out
    results = json.loads((tmp_path / "r.json").read_text())
    check = results["same_network"]["alexnet"]
    assert check["passed"] and check["input_dependence"] > 0.9 and "norm1" in check["forward"]
    train = results["configs"][0]["train"]
    assert len(train["torch"]["rounds"]) == 2 and len(train["ratio"]["rounds"]) == 2
    assert train["ratio"]["min"] <= train["ratio"]["median"] <= train["ratio"]["max"]
    imports = {fw: train[fw]["peak_mib"] - train[fw]["net_mib"] for fw in ("tinyalex", "torch")}
    assert imports["torch"] > imports["tinyalex"] > 0  # torch's libraries are counted in its total, not its net
    assert results["frameworks"]["torch"]["torch_threads"] >= 1


def test_the_twin_has_the_models_input_scale_towers_and_weights():
    torch = pytest.importorskip("torch")
    model = build_model("small", width=0.0625)
    twin = torch_twin(model)
    assert twin.input_scale.scale == model.input_scale
    assert twin.norm1.towers == 2 and twin.norm1.lrn.alpha == pytest.approx(model.norm1.alpha * model.norm1.size)
    assert twin.norm1.lrn.k == model.norm1.k == 2.0
    assert twin.conv2.groups == 2
    np.testing.assert_array_equal(twin.fc8.weight.detach().numpy(), model.fc8.weight.data)
    assert isinstance(twin.act1, torch.nn.ReLU)
    assert "input_scale" not in [name for name, _ in torch_twin(build_model("alexnet", 64, 0.0625)).named_children()]


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--batch-size", "0", "--device", "cpu"])
    assert stop.value.code == 2 and "argument --batch-size: must be a whole number >= 1, got 0" in capsys.readouterr().err
    assert main(["bench", "--batch-size", "16", "--device", "cpu"]) == 2
    assert "--model" in capsys.readouterr().err


@pytest.mark.gpu
def test_bench_on_the_gpu_against_pytorch_with_cudnn(capsys):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA device")
    gpu = [arg if arg != "cpu" else "gpu" for arg in TINY]
    assert main(["bench", *gpu, "--compare", "torch", "--layers"]) == 0
    out = capsys.readouterr().out
    assert "alexnet 64px: same;" in out and "PyTorch GPU" in out


@pytest.mark.parametrize("argv, message", [
    (["--image-size", "50"], "tinyalex bench: error: AlexNet: input_size 50 with conv1 11x11/4 pad 2 leaves no pixels"),
    (["--model", "small", "--image-size", "100000"],
     "tinyalex bench: error: small with --image-size 100000 does not fit in memory (Unable to allocate"),
])
def test_a_size_a_net_cannot_take_is_refused_before_any_child_starts(argv, message, monkeypatch, capsys):
    """Both ended in a child's traceback, the first after the small net had been timed."""
    monkeypatch.setattr("tinyalex.bench.suite.run_benchmark", lambda *args, **kwargs: pytest.fail("timing began"))
    assert main(["bench", "--device", "cpu", *argv]) == 2
    assert capsys.readouterr().err.startswith(message)
