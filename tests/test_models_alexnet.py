"""AlexNet: the paper's shapes, parameter counts, initialisation and variants."""
import numpy as np
import pytest

from tinyalex.engine.tensor import no_grad
from tinyalex.models import AlexNet, alexnet_small, layer_table, summary


@pytest.fixture(scope="module")
def paper_net():
    return AlexNet()


def test_paper_parameter_counts(paper_net):
    assert paper_net.num_parameters() == 60_965_224
    assert AlexNet(towers=1).num_parameters() == 62_378_344


def test_paper_feature_maps_and_multiply_adds(paper_net):
    shapes = {row.name: row.output_shape for row in layer_table(paper_net)}
    assert shapes["conv1"] == (96, 55, 55)
    assert shapes["pool1"] == (96, 27, 27)
    assert shapes["pool2"] == (256, 13, 13)
    assert shapes["conv5"] == (256, 13, 13)
    assert shapes["pool5"] == (256, 6, 6)
    assert shapes["fc8"] == (1000,)
    # conv1: 55*55*96 outputs, each 3*11*11 multiply-adds; conv2 reads 48 channels per tower.
    macs = {row.name: row.mult_adds for row in layer_table(paper_net)}
    assert macs["conv1"] == 55 * 55 * 96 * 3 * 11 * 11
    assert macs["conv2"] == 27 * 27 * 256 * 48 * 5 * 5
    assert macs["fc6"] == 9216 * 4096
    assert "60,965,224" in summary(paper_net)


def test_two_towers_group_conv2_conv4_conv5_only(paper_net):
    groups = {name: layer.groups for name, layer in paper_net.named_children() if name.startswith("conv")}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    assert paper_net.conv3.weight.shape == (384, 256, 3, 3)  # reads both towers
    assert paper_net.conv4.weight.shape == (384, 192, 3, 3)  # reads its own tower only


def test_paper_initialisation(paper_net):
    state = paper_net.state_dict()
    for name in ("conv2", "conv4", "conv5", "fc6", "fc7"):
        assert np.all(state[f"{name}.bias"] == 1.0), name
    for name in ("conv1", "conv3", "fc8"):
        assert np.all(state[f"{name}.bias"] == 0.0), name
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        w = state[f"{name}.weight"]
        # std of n samples of N(0, 0.01^2) lies within 5 standard errors (0.01 / sqrt(2n)) of 0.01
        assert abs(w.std() - 0.01) < 5 * 0.01 / np.sqrt(2 * w.size), name
        assert abs(w.mean()) < 5 * 0.01 / np.sqrt(w.size), name
        assert w.dtype == np.float32


def test_seed_reproduces_the_network_and_different_seeds_differ():
    a, b, c = (alexnet_small(seed=s).state_dict() for s in (3, 3, 4))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])


def test_forward_output_shape_for_the_paper_input():
    net = AlexNet(num_classes=7, width=0.125).eval()
    with no_grad():
        y = net(np.zeros((2, 3, 224, 224), np.float32))
    assert y.shape == (2, 7)


def test_small_variant_geometry():
    net = alexnet_small(num_classes=10)
    shapes = {row.name: row.output_shape for row in layer_table(net)}
    assert shapes["conv1"] == (24, 32, 32)
    assert shapes["pool1"] == (24, 15, 15)
    assert shapes["pool2"] == (64, 7, 7)
    assert shapes["pool5"] == (64, 3, 3)
    assert net.fc6.weight.shape == (1024, 576)


def test_variants_change_the_layers_they_name():
    plain = dict(alexnet_small(lrn=False, dropout=0.0, overlap_pooling=False, activation="tanh").named_children())
    assert not any(name.startswith(("norm", "drop")) for name in plain)
    assert plain["pool1"].kernel_size == (2, 2) and plain["pool1"].stride == (2, 2)
    assert type(plain["act1"]).__name__ == "Tanh"
    one_tower = alexnet_small(towers=1)
    assert one_tower.conv2.groups == 1 and one_tower.conv2.weight.shape[1] == 24


def test_config_rebuilds_the_same_network():
    net = alexnet_small(num_classes=5, seed=11, dropout=0.3)
    copy = AlexNet(**net.config)
    assert all(np.array_equal(v, copy.state_dict()[k]) for k, v in net.state_dict().items())


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="towers must be 1 or 2"):
        AlexNet(towers=3)
    with pytest.raises(ValueError, match="activation"):
        AlexNet(activation="sigmoid")
    with pytest.raises(ValueError, match="no pixels after pool5"):
        AlexNet(input_size=32, width=0.125)


def test_he_initialisation_and_input_scale():
    net = AlexNet(num_classes=10, width=0.25, init="he")
    assert net.config["input_scale"] == 1 / 64 and AlexNet(width=0.125).config["input_scale"] == 1.0
    state = net.state_dict()
    assert all(np.all(state[f"{name}.bias"] == 0.0) for name in ("conv1", "conv2", "fc6", "fc8"))
    # conv2 reads 24/2 channels x 5x5 per group; fc8 reads fc7's 1024 units with gain 1
    for name, expected in (("conv2", np.sqrt(2 / (12 * 25))), ("fc8", np.sqrt(1 / 1024)), ("conv1", np.sqrt(1 / 363))):
        w = state[f"{name}.weight"]
        assert abs(w.std() - expected) < 5 * expected / np.sqrt(2 * w.size), name


def test_input_scale_multiplies_the_input():
    scaled = alexnet_small(seed=1, dropout=0.0).eval()
    plain = AlexNet(**{**scaled.config, "input_scale": 1.0}).eval()
    x = np.random.default_rng(0).normal(0, 64, (2, 3, 64, 64)).astype(np.float32)
    with no_grad():
        np.testing.assert_allclose(scaled(x).data, plain(x / 64).data, rtol=1e-5, atol=1e-6)
