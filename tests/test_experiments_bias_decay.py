"""Weight decay on biases as a switch: the parameter groups, one SGD step with and without it, and the
switch in the ablation's runs and in `tinyalex train`."""
import numpy as np
import pytest

from experiments_helpers import shapes_folder, tiny_config
from tinyalex.cli.main import build_parser, main
from tinyalex.cli.train import run_options
from tinyalex.experiments import run_ablation
from tinyalex.models import alexnet_small, decay_groups
from tinyalex.optim import MomentumSGD
from tinyalex.training import load_checkpoint

LR, DECAY = 0.1, 0.01


def tiny():
    return alexnet_small(10, input_size=32, width=0.0625, seed=0, init="paper")  # biases of 1 in conv2, fc6, ...


def test_the_groups_put_every_bias_and_only_biases_out_of_weight_decay():
    model = tiny()
    named = dict(model.named_parameters())
    assert decay_groups(model, bias_decay=True) == list(named.values())  # one group, as before the switch
    weights, biases = decay_groups(model, bias_decay=False)
    assert biases["weight_decay"] == 0.0 and "weight_decay" not in weights
    bias_names = {name for name, p in named.items() if any(p is b for b in biases["params"])}
    assert bias_names == {name for name in named if name.endswith(".bias")} and len(bias_names) == 8
    assert len(weights["params"]) + len(biases["params"]) == len(named)


@pytest.mark.parametrize("bias_decay", [True, False])
def test_one_step_shrinks_the_biases_only_with_bias_decay(bias_decay):
    model = tiny()
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    optimizer = MomentumSGD(decay_groups(model, bias_decay), lr=LR, momentum=0.9, weight_decay=DECAY)
    for p in model.parameters():
        p.grad = np.zeros_like(p.data)  # no loss: only weight decay moves the parameters
    optimizer.step()
    for name, p in model.named_parameters():
        # v = -weight_decay * lr * w, w <- w + v: decayed parameters shrink by the factor 1 - lr * weight_decay
        decayed = bias_decay or not name.endswith(".bias")
        expected = before[name] * (1 - LR * DECAY) if decayed else before[name]
        np.testing.assert_allclose(p.data, expected, rtol=1e-6, err_msg=name)
    assert not np.allclose(before["conv2.bias"], 0)  # the test could see a bias move


def test_the_ablation_trains_with_the_switch_it_is_given(tmp_path):
    folder = shapes_folder(tmp_path / "shapes")
    run_ablation(tmp_path / "out", ["baseline"], tiny_config(folder, bias_decay=False), progress=False)
    groups = load_checkpoint(tmp_path / "out" / "baseline" / "seed0" / "last.npz")["meta"]["optimizer"]["groups"]
    assert [g["weight_decay"] for g in groups] == [0.0005, 0.0]
    assert "weight decay 0.0005 on weights only" in (tmp_path / "out" / "results.md").read_text()


def test_train_takes_the_switch_and_keeps_decaying_biases_by_default(tmp_path, capsys):
    parser = build_parser()
    for flags, expected in (([], True), (["--no-bias-decay"], False), (["--bias-decay"], True)):
        args = parser.parse_args(["train", "--out", str(tmp_path), *flags])
        assert run_options(args, tmp_path, [])["bias_decay"] is expected
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--no-bias-decay" in capsys.readouterr().out
