"""The same-network check passes the right PyTorch twin and fails every wrong one tried (needs PyTorch)."""
import numpy as np
import pytest

from tinyalex.bench.networks import build_model, torch_twin
from tinyalex.bench.same_network import (MIN_INPUT_DEPENDENCE, NetworkMismatch, check_batch, check_init,
                                         input_dependence, recording, relative_difference, same_network)
from tinyalex.engine.tensor import Tensor, no_grad

torch = pytest.importorskip("torch")
from tinyalex.bench.torch_layers import InputScale, TowerLRN  # noqa: E402  (needs torch)

NETS = {"alexnet_small": ("small", {}), "reduced paper AlexNet": ("alexnet", {"image_size": 64, "width": 0.0625})}


@pytest.fixture(params=list(NETS), scope="module")
def checked(request):
    """A net with the check's weights, its batch, and a fresh twin built from it."""
    name, options = NETS[request.param]
    model = build_model(name, **options)
    x, labels = check_batch(model)
    check_init(model, x)
    return model, x, labels


def test_the_right_twin_passes_forward_and_gradients(checked):
    model, x, labels = checked
    report = same_network(model, torch_twin(model), x, labels)
    assert report["passed"] and report["problems"] == []
    assert list(report["forward"]) == [name for name, _ in model.named_children()]
    assert set(report["gradients"]) == {"input", *(name for name, _ in model.named_parameters())}
    assert max(report["forward"].values()) < 1e-4 and max(report["gradients"].values()) < 1e-4
    assert report["input_dependence"] > 0.9


WRONG_TWINS = {
    "no LRN": lambda twin, model: [setattr(twin, n, torch.nn.Identity()) for n in ("norm1", "norm2")],
    "PyTorch's default k=1": lambda twin, model: [
        setattr(twin, n, TowerLRN(5, 1e-4, 0.75, 1.0, model.norm1.groups)) for n in ("norm1", "norm2")],
    "one LRN across both towers": lambda twin, model: [
        setattr(twin, n, torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)) for n in ("norm1", "norm2")],
    "PyTorch's alpha not multiplied by the size": lambda twin, model: [
        setattr(twin, n, TowerLRN(5, 1e-4 / 5, 0.75, 2.0, model.norm1.groups)) for n in ("norm1", "norm2")],
    "conv1 negated": lambda twin, model: twin.conv1.weight.data.neg_(),
    "dropout rate changed": lambda twin, model: setattr(twin.drop6, "p", 0.0),
    "fc8 without a bias": lambda twin, model: setattr(twin, "fc8", torch.nn.Linear(twin.fc8.in_features,
                                                                                 twin.fc8.out_features, bias=False)),
}


@pytest.mark.parametrize("wrong", list(WRONG_TWINS))
def test_wrong_twins_fail(checked, wrong):
    model, x, labels = checked
    twin = torch_twin(model)
    WRONG_TWINS[wrong](twin, model)
    with pytest.raises(NetworkMismatch) as failure:
        same_network(model, twin, x, labels)
    assert not failure.value.report["passed"] and failure.value.report["problems"]


def test_a_twin_without_the_input_scale_fails_at_conv1():
    model = build_model("small")
    x, labels = check_batch(model)
    check_init(model, x)
    twin = torch_twin(model)
    assert isinstance(twin.input_scale, InputScale) and twin.input_scale.scale == model.input_scale
    twin.input_scale = torch.nn.Identity()
    report = same_network(model, twin, x, labels, strict=False)
    assert not report["passed"] and report["problems"][0].startswith("conv1: forward")


def test_wrong_twins_are_told_apart_at_the_layer_that_differs(checked):
    model, x, labels = checked
    twin = torch_twin(model)
    twin.norm2 = torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    report = same_network(model, twin, x, labels, strict=False)
    layers = list(report["forward"])
    assert all(report["forward"][name] < 1e-4 for name in layers[:layers.index("norm2")])
    assert report["forward"]["norm2"] > 1e-2


def test_the_paper_init_is_refused_because_the_input_hardly_matters():
    model = build_model("alexnet", image_size=64, width=0.0625)  # the paper's N(0, 0.01), biases 1
    x, labels = check_batch(model)
    broken = torch_twin(model)
    broken.norm1, broken.norm2 = torch.nn.Identity(), torch.nn.Identity()
    broken.conv1.weight.data.neg_()
    report = same_network(model, broken, x, labels, strict=False)
    assert report["input_dependence"] < MIN_INPUT_DEPENDENCE
    assert not report["passed"] and "barely depend on the input" in report["problems"][-1]


def test_check_init_sizes_every_layer_and_makes_lrn_matter():
    model = build_model("alexnet", image_size=64, width=0.0625)
    x, _ = check_batch(model)
    check_init(model, x)
    model.eval()
    with no_grad(), recording(model) as outputs:
        logits = model(Tensor(x)).data
    model.train()
    lrn_fed = np.sqrt(2 * model.norm1.k / (model.norm1.alpha * model.norm1.size))
    for name in ("conv1", "conv2"):
        assert outputs[name].std() == pytest.approx(lrn_fed, rel=0.05)
    for name in ("conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        assert outputs[name].std() == pytest.approx(1.0, rel=0.05)
    lrn_share = model.norm1.alpha * model.norm1.size * (outputs["act1"] ** 2).mean() / model.norm1.k
    assert 0.5 < lrn_share < 2  # alpha * sum(a^2) is about as big as k
    assert input_dependence(logits) > 0.9
    np.testing.assert_array_equal(outputs["fc8"], logits)  # the recorded last layer is the model's output


def test_recording_leaves_the_model_as_it_was():
    model = build_model("small", width=0.0625)
    with recording(model):
        pass
    assert all("forward" not in vars(layer) for _, layer in model.named_children())


def test_relative_difference_and_input_dependence():
    b = np.array([1.0, -2.0, 4.0])
    assert relative_difference(b, b) == 0.0
    assert relative_difference(b + np.array([0.0, 0.4, 0.0]), b) == pytest.approx(0.1)
    same_rows = np.tile(np.array([[1.0, 2.0, 3.0]]), (4, 1))
    assert input_dependence(same_rows) == 0.0
    assert input_dependence(np.array([[1.0, -1.0], [-1.0, 1.0]])) == pytest.approx(1.0)
