"""The parent side of `tinyalex bench`: which configurations, the order of the child processes (A B A B), and how
their numbers are put together. A fake child stands in for the real ones, so nothing is timed."""
import pytest

from tinyalex.bench import suite
from tinyalex.bench.children import alternate_rounds
from tinyalex.bench.configs import DEFAULT_PAIRS, Config, select
from tinyalex.bench.report import format_results


class FakeChildren:
    """Records every child's arguments; a timing child reports `seconds[framework][round]` for every job."""

    def __init__(self, seconds, passed=True):
        self.seconds, self.passed, self.calls = seconds, passed, []
        self.rounds = {}

    def __call__(self, arguments):
        self.calls.append(arguments)
        kind = arguments[0]
        model = arguments[arguments.index("--model") + 1]
        if kind == "same-network":
            return {"model": model, "image_size": 64, "width": 0.25, "passed": self.passed, "rtol": 1e-3,
                    "input_dependence": 0.99, "forward": {"conv1": 1e-7}, "gradients": {"input": 1e-7},
                    "problems": [] if self.passed else ["norm1: forward differs by 5.0e-01"]}
        if "layers" in arguments:
            return {"layers": {"conv1": [0.01, 0.02], "fc8": [0.001, 0.002]}}
        round_ = self.rounds.get(kind, 0)
        self.rounds[kind] = round_ + 1
        job = {"seconds": self.seconds[kind][round_], "peak_mib": 100.0 + round_, "net_mib": 50.0 + round_}
        return {"framework": kind, "image_size": 64, "width": 0.25, "environment": {"python": "3.x"},
                "jobs": {"train": job, "inference": job}}


@pytest.fixture
def torch_present(monkeypatch):
    monkeypatch.setattr(suite, "torch_installed", lambda: True)


def timing_calls(children):
    return [call for call in children.calls if call[0] != "same-network" and "layers" not in call]


def test_alternate_rounds_runs_a_b_a_b():
    order = []
    results = alternate_rounds(["tinyalex", "torch"], 3, lambda fw, r: order.append((fw, r)) or f"{fw}{r}")
    assert order == [("tinyalex", 0), ("torch", 0), ("tinyalex", 1), ("torch", 1), ("tinyalex", 2), ("torch", 2)]
    assert results == [{"tinyalex": "tinyalex0", "torch": "torch0"}, {"tinyalex": "tinyalex1", "torch": "torch1"},
                       {"tinyalex": "tinyalex2", "torch": "torch2"}]


def test_benchmark_checks_first_then_alternates_children_per_configuration(torch_present):
    seconds = {"tinyalex": [[0.2, 0.2], [0.3, 0.3], [0.4, 0.4]], "torch": [[0.1, 0.1], [0.3, 0.3], [0.2, 0.2]]}
    children = FakeChildren(seconds)
    configs = [Config("small", 64, steps=2, warmup=2)]
    results = suite.run_benchmark(configs, compare_torch=True, rounds=3, log=lambda _: None, run=children)
    assert children.calls[0][0] == "same-network"
    assert [call[0] for call in timing_calls(children)] == ["tinyalex", "torch"] * 3
    first = timing_calls(children)[0]
    assert first[first.index("--steps") + 1] == "2" and first[first.index("--warmup") + 1] == "2"
    assert first[first.index("--batch") + 1] == "64"
    train = results["configs"][0]["train"]
    assert train["tinyalex"]["seconds"] == pytest.approx(0.3) and train["torch"]["seconds"] == pytest.approx(0.2)
    assert train["ratio"]["rounds"] == pytest.approx([0.5, 1.0, 0.5])
    assert train["ratio"]["median"] == pytest.approx(0.5)
    assert (train["ratio"]["min"], train["ratio"]["max"]) == pytest.approx((0.5, 1.0))
    assert train["tinyalex"]["peak_mib"] == 102.0 and train["tinyalex"]["net_mib"] == 52.0  # the highest round
    assert results["same_network"]["small"]["passed"]
    text = format_results(results)
    assert "small 64px, train, batch 64" in text and "0.50x" in text and "0.50-1.00" in text


def test_every_configuration_gets_its_own_rounds_in_order(torch_present):
    seconds = {fw: [[0.1]] * 4 for fw in ("tinyalex", "torch")}
    children = FakeChildren(seconds)
    configs = [Config("small", 64, 1, 0), Config("alexnet", 32, 1, 0)]
    suite.run_benchmark(configs, compare_torch=True, rounds=2, log=lambda _: None, run=children)
    checks = [call[2] for call in children.calls if call[0] == "same-network"]
    assert checks == ["small", "alexnet"]  # one check per net, before any timing
    timed = [(call[0], call[2]) for call in timing_calls(children)]
    small, paper = [("tinyalex", "small"), ("torch", "small")], [("tinyalex", "alexnet"), ("torch", "alexnet")]
    assert timed == small * 2 + paper * 2


def test_a_failed_check_stops_the_benchmark_before_any_timing(torch_present):
    children = FakeChildren({}, passed=False)
    results = suite.run_benchmark([Config("small", 64, 1, 0)], compare_torch=True, log=lambda _: None, run=children)
    assert [call[0] for call in children.calls] == ["same-network"]
    assert results["configs"] == [] and not results["same_network"]["small"]["passed"]
    assert "DIFFERENT" in format_results(results) and "norm1: forward differs" in format_results(results)


def test_a_comparison_without_torch_is_refused_before_anything_runs(monkeypatch):
    """It timed tinyalex alone and exited 0, though the ratio asked for was never measured."""
    monkeypatch.setattr(suite, "torch_installed", lambda: False)
    children = FakeChildren({"tinyalex": [[0.1], [0.2]]})
    with pytest.raises(RuntimeError, match="--compare torch needs PyTorch, which is not installed"):
        suite.run_benchmark([Config("small", 8, 1, 0)], compare_torch=True, rounds=2, log=lambda _: None,
                            run=children)
    assert children.calls == []
    results = suite.run_benchmark([Config("small", 8, 1, 0)], rounds=2, log=lambda _: None, run=children)
    assert [call[0] for call in children.calls] == ["tinyalex", "tinyalex"] and "ratio" not in results["configs"][0]["train"]


def test_layers_run_one_child_per_framework(torch_present):
    children = FakeChildren({fw: [[0.1]] for fw in ("tinyalex", "torch")})
    results = suite.run_benchmark([Config("small", 8, 1, 0)], compare_torch=True, rounds=1, layers=True,
                                  log=lambda _: None, run=children)
    layer_calls = [call[0] for call in children.calls if "layers" in call]
    assert layer_calls == ["tinyalex", "torch"]
    assert results["layers"]["torch"]["conv1"] == [0.01, 0.02]
    assert "per layer, small batch 8" in format_results(results)


def test_default_configurations_cover_both_nets_training_and_inference():
    configs = select()
    assert [(c.model, c.batch) for c in configs] == [("small", 64), ("alexnet", 32), ("alexnet", 128)]
    assert set(DEFAULT_PAIRS) == {("small", 64), ("alexnet", 32), ("alexnet", 128)}
    big = next(c for c in configs if c.batch == 128)
    assert big.steps < next(c for c in configs if c.model == "alexnet" and c.batch == 32).steps
    assert set(suite.JOBS) == {"train", "inference"} and set(suite.CHILD_JOBS) == set(suite.JOBS)


def test_model_and_batch_size_narrow_the_defaults():
    assert [(c.model, c.batch) for c in select(models=["alexnet"])] == [("alexnet", 32), ("alexnet", 128)]
    assert [(c.model, c.batch) for c in select(batches=[128])] == [("alexnet", 128)]
    both = select(models=["small"], batches=[8, 16], steps=2, warmup=0)
    assert [(c.model, c.batch, c.steps, c.warmup) for c in both] == [("small", 8, 2, 0), ("small", 16, 2, 0)]
    with pytest.raises(ValueError, match="--model"):
        select(batches=[16])
    with pytest.raises(ValueError, match="unknown model"):
        select(models=["vgg"])


@pytest.mark.parametrize("child, keeps", [(["same-network", "--model", "alexnet"], False),
                                          (["tinyalex", "--model", "alexnet"], True)])
def test_the_same_network_check_runs_in_float32_when_the_timing_uses_tf32(child, keeps, monkeypatch):
    """With TINYALEX_TF32=1 PyTorch's twin rounded to TF32 differs by up to 0.6 in a gradient: the check failed
    and nothing was timed. The timed children keep TF32."""
    import subprocess
    import types

    from tinyalex.bench import children

    seen = {}

    def fake_run(command, env, **kwargs):
        seen.update(env)
        return types.SimpleNamespace(returncode=0, stdout='{"passed": true}\n', stderr="")

    monkeypatch.setenv("TINYALEX_TF32", "1")
    monkeypatch.setenv("CUPY_TF32", "1")
    monkeypatch.setattr(subprocess, "run", fake_run)
    assert children.run_child(child) == {"passed": True}
    assert ("TINYALEX_TF32" in seen and "CUPY_TF32" in seen) == keeps
