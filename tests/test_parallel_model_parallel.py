"""The two-tower AlexNet placed on devices equals the single-device grouped model (Section 3.2)."""
import numpy as np
import pytest

from parallel_helpers import FLOAT32_RTOL, FLOAT64_RTOL, assert_close, in_float64
from tinyalex.functional import softmax_cross_entropy
from tinyalex.models import alexnet_small
from tinyalex.optim import MomentumSGD
from tinyalex.parallel.model_parallel import TowerParallelAlexNet

# With the paper's alpha = 1e-4 a normalisation window that wrongly crossed the towers would
# change the results by less than float32 rounding; with 0.5 it changes them visibly.
LARGE_ALPHA = 0.5


def grouped_and_towers(devices=("cpu", "cpu"), seed=0, float64=False, **kwargs):
    """A grouped alexnet_small (it normalises per tower) and the same net (same seed) split into placed towers."""
    grouped, source = alexnet_small(seed=seed, **kwargs), alexnet_small(seed=seed, **kwargs)
    for model in (grouped, source):
        if float64:
            in_float64(model)
        for name in ("norm1", "norm2"):
            getattr(model, name).alpha = LARGE_ALPHA
    return grouped, TowerParallelAlexNet.from_alexnet(source, devices)


def batch(n=4, seed=1, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 64, 64)).astype(dtype), rng.integers(0, 10, n)


def joined_grads(towers: TowerParallelAlexNet) -> dict:
    """The towers' gradients in the grouped model's names: halves joined along the output axis."""
    first, second = (dict(t.named_parameters()) for t in towers.towers)
    return {name: np.concatenate([np.asarray(first[name].grad), np.asarray(second[name].grad)]) for name in first}


def test_logits_gradients_and_a_momentum_step_equal_the_grouped_model():
    grouped, towers = grouped_and_towers(float64=True)  # float64: see parallel_helpers
    x, y = batch(dtype=np.float64)
    assert towers.state_dict().keys() == grouped.state_dict().keys()
    for name, value in grouped.state_dict().items():
        np.testing.assert_array_equal(towers.state_dict()[name], value)

    sgd_grouped, sgd_towers = MomentumSGD(grouped.parameters()), MomentumSGD(towers.parameters())
    for _ in range(2):  # dropout is active: equal results need the same masks on both
        logits = [model(x) for model in (grouped, towers)]
        assert_close(logits[1].data, logits[0].data, FLOAT64_RTOL)
        for model, z in zip((grouped, towers), logits):
            model.zero_grad()
            softmax_cross_entropy(z, y).backward()
        expected = {name: p.grad for name, p in grouped.named_parameters()}
        for name, grad in joined_grads(towers).items():
            assert_close(grad, expected[name], FLOAT64_RTOL, name)
        sgd_grouped.step()
        sgd_towers.step()
    for name, value in grouped.state_dict().items():
        assert_close(towers.state_dict()[name], value, FLOAT64_RTOL, name)


def test_float32_logits_equal_the_grouped_model():
    grouped, towers = grouped_and_towers()
    x, _ = batch()
    for _ in range(2):  # training mode: dropout draws a new mask each time, the same on both
        assert_close(towers(x).data, grouped(x).data, FLOAT32_RTOL)


def test_a_normalisation_window_across_the_towers_would_be_caught():
    grouped, towers = grouped_and_towers(float64=True)
    grouped.norm1.groups = 1  # normalise across all maps, as one GPU holding both towers might
    x, y = batch(dtype=np.float64)
    for model in (grouped, towers):
        softmax_cross_entropy(model(x), y).backward()
    with pytest.raises(AssertionError):
        assert_close(joined_grads(towers)["conv1.weight"], grouped.conv1.weight.grad, FLOAT32_RTOL)


def test_only_conv3_and_the_fully_connected_layers_read_both_towers():
    grouped, towers = grouped_and_towers()
    for tower in towers.towers:
        assert tower.conv1.weight.shape == (12, 3, 5, 5)  # half of conv1's 24 kernels, on the image
        assert tower.conv2.weight.shape == (32, 12, 5, 5)  # reads its own 12 maps of conv1
        assert tower.conv3.weight.shape == (48, 64, 3, 3)  # reads all 64 maps of conv2: a crossing
        assert tower.conv4.weight.shape == (48, 48, 3, 3)  # own 48 of conv3's 96
        assert tower.conv5.weight.shape == (32, 48, 3, 3)  # own 48 of conv4's 96
        assert tower.fc6.weight.shape == (512, 64 * 3 * 3)  # all of pool5: a crossing
        assert tower.fc7.weight.shape == (512, 1024)  # all of fc6
        assert tower.fc8.weight.shape == (5, 1024)  # all of fc7
    assert towers.num_parameters() == grouped.num_parameters()


def test_checkpoints_move_between_the_grouped_and_the_tower_layout():
    grouped, towers = grouped_and_towers(seed=0)
    other = alexnet_small(seed=7)
    towers.load_state_dict(other.state_dict())
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(towers.state_dict()[name], value)
    grouped.load_state_dict(towers.state_dict())
    state = towers.state_dict()
    state["fc8.weight"] = state["fc8.weight"][:, :-1]
    with pytest.raises(ValueError, match="fc8.weight: expected \\(10, 1024\\), got \\(10, 1023\\)"):
        towers.load_state_dict(state)


def test_eval_mode_and_no_dropout_give_the_grouped_results_too():
    grouped, towers = grouped_and_towers(dropout=0.0)
    x, _ = batch(n=2)
    assert_close(towers(x).data, grouped(x).data, FLOAT32_RTOL)
    grouped, towers = grouped_and_towers()
    grouped.eval(), towers.eval()
    assert_close(towers(x).data, grouped(x).data, FLOAT32_RTOL)


def test_refuses_a_one_tower_model_and_bad_devices():
    with pytest.raises(ValueError, match="towers=2"):
        TowerParallelAlexNet.from_alexnet(alexnet_small(towers=1))
    with pytest.raises(ValueError, match="two devices"):
        TowerParallelAlexNet.from_alexnet(alexnet_small(), ("cpu",))
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        TowerParallelAlexNet.from_alexnet(alexnet_small(), ("cpu", "tpu"))


def test_the_trainer_trains_the_towers_and_its_checkpoint_loads_as_the_grouped_model(tmp_path):
    from data_fixtures import ArrayDataset
    from tinyalex.data import DataLoader
    from tinyalex.training import fit, load_model

    images = np.random.default_rng(3).integers(0, 256, (8, 72, 72, 3), dtype=np.uint8)
    data = ArrayDataset(images, np.arange(8) % 10)
    towers = TowerParallelAlexNet.from_alexnet(alexnet_small(seed=0))
    assert towers.devices == ("cpu", "cpu")  # where the model was
    loader = DataLoader(data, batch_size=4, crop=64, seed=1, prefetch=0)
    val = DataLoader(data, batch_size=4, crop=64, train=False, prefetch=0)
    fit(towers, loader, val, MomentumSGD(towers.parameters()), epochs=1, out_dir=tmp_path, quiet=True)
    grouped, _ = load_model(tmp_path / "last.npz")
    assert towers.devices == ("cpu", "cpu")
    assert grouped.config == towers.config
    for name, value in towers.state_dict().items():
        np.testing.assert_array_equal(grouped.state_dict()[name], value)


def test_alexnet_places_its_own_towers():
    model = alexnet_small(seed=3)
    towers = model.place_towers(("cpu", "cpu"))
    assert isinstance(towers, TowerParallelAlexNet) and towers.devices == ("cpu", "cpu")
    x, _ = batch()
    model.eval(), towers.eval()
    assert_close(towers(x).data, model(x).data, FLOAT32_RTOL)
