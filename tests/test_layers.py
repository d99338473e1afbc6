"""Layers: parameters and their names, train/eval, state_dict through .npz, devices, wrong input."""
import numpy as np
import pytest

from tinyalex import Tensor, gradcheck, nn
from tinyalex import functional as F
from tinyalex.backend import to_cpu, to_gpu
from tests import reference


def small_net(seed=0):
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, rng=seed),
        nn.ReLU(),
        nn.LocalResponseNorm(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(4, 6, (2, 1), groups=2, rng=seed + 1),
        nn.Flatten(),
        nn.Dropout(0.5, seed=seed + 2),
        nn.Linear(12, 5, rng=seed + 3),
    )


class Towers(nn.Module):
    """A custom module: parameters, a child and a list of children, found in assignment order."""

    def __init__(self):
        self.scale = nn.Parameter(np.ones(1, np.float32), name="scale")
        self.stem = nn.Conv2d(2, 2, 1, bias=False, rng=0)
        self.heads = [nn.Linear(2, 2, rng=1), nn.ReLU(), nn.Linear(2, 1, rng=2)]

    def forward(self, x):
        return x


def test_named_parameters_in_order():
    names = [name for name, _ in small_net().named_parameters()]
    assert names == ["0.weight", "0.bias", "4.weight", "4.bias", "7.weight", "7.bias"]
    assert [n for n, _ in Towers().named_parameters()] == [
        "scale", "stem.weight", "heads.0.weight", "heads.0.bias", "heads.2.weight", "heads.2.bias"
    ]
    net = small_net()
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


class Tied(nn.Module):
    """A decoder whose weight is the encoder's (a tied parameter), then one layer used twice (a shared module)."""

    def __init__(self):
        self.encoder = nn.Linear(3, 3, bias=False, rng=0)
        self.decoder = nn.Linear(3, 3, rng=1)
        self.decoder.weight = self.encoder.weight
        self.twice = nn.Linear(3, 3, rng=2)
        self.again = self.twice

    def forward(self, x):
        return self.again(self.twice(self.decoder(self.encoder(x))))


def test_a_tied_parameter_is_listed_saved_and_updated_once():
    from tinyalex.optim import MomentumSGD

    net = Tied()
    assert [name for name, _ in net.named_parameters()] == ["encoder.weight", "decoder.bias", "twice.weight",
                                                            "twice.bias"]
    assert net.num_parameters() == 9 + 3 + 9 + 3
    assert sum(1 for m in net.modules() if m is net.twice) == 1
    before = {name: p.data.copy() for name, p in net.named_parameters()}
    for p in net.parameters():
        p.grad = np.ones_like(p.data)
    MomentumSGD(net.parameters(), lr=0.1, momentum=0.0, weight_decay=0.0).step()
    for name, p in net.named_parameters():  # w <- w - lr * 1: moved by exactly 0.1, not 0.2
        np.testing.assert_allclose(before[name] - p.data, 0.1, rtol=1e-6, err_msg=name)
    state = net.state_dict()
    other = Tied()
    other.load_state_dict(state)
    assert other.decoder.weight is other.encoder.weight
    np.testing.assert_array_equal(other.decoder.weight.data, state["encoder.weight"])


def test_a_tied_parameter_gets_the_gradient_of_both_uses():
    net = Tied()
    x = np.random.default_rng(0).standard_normal((2, 3))
    params = dict(net.named_parameters())
    gradcheck(lambda x: net(x), [x], params=params)  # raises when the two uses are not summed


def test_parameter_shapes_and_count():
    net = small_net()
    shapes = {name: p.shape for name, p in net.named_parameters()}
    assert shapes == {
        "0.weight": (4, 3, 3, 3), "0.bias": (4,), "4.weight": (6, 2, 2, 1), "4.bias": (6,),
        "7.weight": (5, 12), "7.bias": (5,),
    }
    assert net.num_parameters() == 108 + 4 + 24 + 6 + 60 + 5
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_initialisation_follows_the_arguments():
    conv = nn.Conv2d(16, 64, 5, weight_std=0.01, bias_init=1.0, rng=0)
    assert abs(conv.weight.data.std() - 0.01) < 0.0005 and abs(conv.weight.data.mean()) < 0.0005
    assert np.all(conv.bias.data == 1.0)
    assert np.array_equal(nn.Linear(4, 3, rng=7).weight.data, nn.Linear(4, 3, rng=7).weight.data)
    assert not np.array_equal(nn.Linear(4, 3, rng=7).weight.data, nn.Linear(4, 3, rng=8).weight.data)
    assert nn.Linear(4, 3, bias=False).bias is None and len(nn.Linear(4, 3, bias=False).parameters()) == 1


def test_layers_compute_their_ops_with_their_settings():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 6, 5))
    conv = nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, groups=2, bias_init=0.5, rng=1)
    expected = reference.conv2d(x, conv.weight.data.astype(np.float64), conv.bias.data, 2, 1, 2)
    np.testing.assert_allclose(conv(x).data, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(nn.MaxPool2d(3, 2, 1)(x).data, reference.max_pool2d(x, 3, 2, 1))
    np.testing.assert_allclose(nn.LocalResponseNorm(3, 0.5, 0.6, 1.0)(x).data,
                               reference.local_response_norm(x, 3, 0.5, 0.6, 1.0), rtol=1e-12)
    linear = nn.Linear(5, 3, bias_init=0.1, rng=2)
    np.testing.assert_allclose(linear(x[0, 0]).data, reference.linear(x[0, 0], linear.weight.data, linear.bias.data),
                               rtol=1e-5)


def test_gradcheck_layers_with_parameters():
    rng = np.random.default_rng(1)
    conv = nn.Conv2d(4, 2, (2, 3), stride=(1, 2), padding=(1, 0), groups=2, weight_std=0.5, rng=rng)
    gradcheck(conv, [rng.standard_normal((2, 4, 3, 5))], params=dict(conv.named_parameters()))
    linear = nn.Linear(3, 2, weight_std=0.5, bias_init=0.2, rng=rng)
    gradcheck(linear, [rng.standard_normal((4, 3))], params=dict(linear.named_parameters()))
    assert conv.weight.dtype == np.float32 and linear.bias.dtype == np.float32  # restored after the check


def test_train_and_eval_reach_every_layer():
    net = small_net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    assert np.array_equal(net(x).data, net(x).data)  # eval: dropout off, deterministic
    net.train()
    assert all(m.training for m in net.modules())
    assert not np.array_equal(net(x).data, net(x).data)  # training: fresh dropout masks


def test_zero_grad_clears_every_parameter():
    net = small_net().eval()
    out = net(np.ones((1, 3, 5, 5), np.float32))
    F.softmax_cross_entropy(out, [1]).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_through_npz(tmp_path):
    source, target = small_net(seed=0).eval(), small_net(seed=10).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    assert not np.allclose(source(x).data, target(x).data)
    state = source.state_dict()
    assert list(state) == [name for name, _ in source.named_parameters()]
    assert all(type(a) is np.ndarray for a in state.values())
    np.savez(tmp_path / "net.npz", **state)
    with np.load(tmp_path / "net.npz") as loaded:
        target.load_state_dict(loaded)
    np.testing.assert_array_equal(target(x).data, source(x).data)
    assert all(p.dtype == np.float32 for p in target.parameters())


def test_state_dict_is_a_copy():
    net = small_net()
    state = net.state_dict()
    state["0.weight"][...] = 0
    assert np.any(net[0].weight.data != 0)
    net.load_state_dict(state)
    state["0.weight"][...] = 1
    assert np.all(net[0].weight.data == 0)  # loading copied too


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("4.bias"), r"missing \['4.bias'\]"),
        (lambda s: s.update(extra=np.zeros(1)), r"unexpected \['extra'\]"),
        (lambda s: s.update({"7.weight": np.zeros((5, 11))}), r"7.weight: expected \(5, 12\), got \(5, 11\)"),
    ],
)
def test_load_state_dict_errors_name_the_problem_and_change_nothing(change, message):
    net = small_net()
    before = net.state_dict()
    state = small_net(seed=10).state_dict()
    change(state)
    with pytest.raises(ValueError, match=message):
        net.load_state_dict(state)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


# --- wrong input names the layer, what it expected and what it got ---------------------------------------------
def layer_error(layer, x):
    with pytest.raises(ValueError) as error:
        layer(x)
    return str(error.value)


def test_wrong_number_of_dimensions():
    message = layer_error(nn.Conv2d(3, 4, 3), np.zeros((3, 8, 8), np.float32))
    assert message.startswith("Conv2d(3, 4, kernel_size=(3, 3)") and "(N, 3, H, W)" in message and "(3, 8, 8)" in message
    message = layer_error(nn.Linear(5, 2), np.zeros((2, 1, 5), np.float32))
    assert message.startswith("Linear(5, 2)") and "(N, 5)" in message and "(2, 1, 5)" in message
    message = layer_error(nn.MaxPool2d(2), np.zeros((4, 4), np.float32))
    assert message.startswith("MaxPool2d(") and "(N, C, H, W)" in message and "(4, 4)" in message
    message = layer_error(nn.LocalResponseNorm(), np.zeros((2, 4), np.float32))
    assert message.startswith("LocalResponseNorm(") and "(N, C, H, W)" in message and "(2, 4)" in message


def test_wrong_channel_count():
    message = layer_error(nn.Conv2d(3, 4, 3), np.zeros((2, 1, 8, 8), np.float32))
    assert message.startswith("Conv2d(") and "(N, 3, H, W)" in message and "(2, 1, 8, 8)" in message
    message = layer_error(nn.Linear(5, 2), np.zeros((2, 4), np.float32))
    assert message.startswith("Linear(5, 2)") and "(N, 5)" in message and "(2, 4)" in message


def test_wrong_dtype():
    for layer, x in [
        (nn.Conv2d(3, 4, 3), np.zeros((1, 3, 8, 8), np.uint8)),
        (nn.Linear(5, 2), np.zeros((2, 5), np.int64)),
        (nn.MaxPool2d(2), np.zeros((1, 3, 8, 8), np.uint8)),
        (nn.LocalResponseNorm(), np.zeros((1, 3, 8, 8), np.int32)),
    ]:
        message = layer_error(layer, x)
        assert message.startswith(type(layer).__name__ + "(") and "floating-point" in message and str(x.dtype) in message


def test_kernel_larger_than_the_padded_input():
    message = layer_error(nn.Conv2d(3, 4, 5, padding=1), np.zeros((1, 3, 2, 8), np.float32))
    assert message.startswith("Conv2d(") and "5x5" in message and "4x10" in message and "(1, 3, 2, 8)" in message
    message = layer_error(nn.MaxPool2d(3, 2), np.zeros((1, 2, 2, 5), np.float32))
    assert message.startswith("MaxPool2d(") and "3x3" in message and "2x5" in message


def test_error_inside_sequential_names_the_inner_layer_once():
    x = np.zeros((1, 3, 4, 4), np.float32)  # conv1 keeps 4x4, pooling gives 1x1, conv2's 2x1 kernel does not fit
    message = layer_error(small_net(), x)
    assert message.startswith("Conv2d(4, 6, kernel_size=(2, 1)") and message.count("Conv2d(") == 1


def test_groups_that_do_not_divide_the_channels_are_refused():
    with pytest.raises(ValueError, match="do not split into 2 groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_layer_reprs_show_their_settings():
    assert repr(nn.MaxPool2d(3, 2)) == "MaxPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(0, 0))"
    assert repr(nn.Dropout(0.5)) == "Dropout(p=0.5)"
    assert "groups=2" in repr(nn.Conv2d(4, 6, 3, groups=2))
    assert repr(nn.LocalResponseNorm()) == "LocalResponseNorm(size=5, alpha=0.0001, beta=0.75, k=2.0)"
    assert repr(small_net()).startswith("Sequential(\n  (0): Conv2d(3, 4")


def test_to_cpu_keeps_numpy_parameters():
    net = small_net()
    assert net.to("cpu") is net and all(isinstance(p.data, np.ndarray) for p in net.parameters())


@pytest.mark.gpu
def test_module_moves_to_gpu_and_back():
    net = small_net().eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    expected = net(x).data
    net.to("gpu")
    assert all(p.device == "gpu:0" for p in net.parameters())
    y = net(to_gpu(x))
    assert y.device == "gpu:0"
    np.testing.assert_allclose(to_cpu(y.data), expected, rtol=1e-4, atol=1e-6)
    state = net.state_dict()
    assert all(type(a) is np.ndarray for a in state.values())
    net.load_state_dict(state)
    assert all(p.device == "gpu:0" for p in net.parameters())  # loading keeps the device
    net.to("cpu")
    np.testing.assert_allclose(net(x).data, expected, rtol=1e-6)


def test_forward_accepts_tensors_and_arrays():
    layer = nn.Linear(3, 2, rng=0)
    x = np.ones((1, 3), np.float32)
    assert np.array_equal(layer(x).data, layer(Tensor(x)).data)


def test_lrn_groups_normalise_each_tower_on_its_own():
    """groups=2 equals two separate LRNs over the two channel halves (the paper's two GPUs)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 3, 3))
    layer = nn.LocalResponseNorm(size=5, alpha=0.5, groups=2)
    y = layer(x).data
    for half in (slice(0, 4), slice(4, 8)):
        np.testing.assert_allclose(y[:, half], F.local_response_norm(x[:, half], 5, 0.5).data, rtol=1e-12)
    assert not np.allclose(y, nn.LocalResponseNorm(size=5, alpha=0.5)(x).data)
    gradcheck(lambda t: layer(t), [x])


def test_lrn_groups_must_divide_channels():
    with pytest.raises(ValueError, match="LocalResponseNorm.*7 channels do not split into 2 towers"):
        nn.LocalResponseNorm(groups=2)(np.zeros((1, 7, 2, 2), np.float32))
