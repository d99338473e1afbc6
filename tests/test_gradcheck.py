"""gradcheck itself: it passes correct backwards, fails wrong ones naming the input, and checks whole stacks."""
import numpy as np
import pytest

import tinyalex
from tinyalex import Function, GradcheckError, gradcheck, nn
from tinyalex import functional as F
from tinyalex.backend import get_array_module
from tinyalex.checks import all_checks, paper_checks


class Cube(Function):
    """y = x^3, with dy/dx = 3x^2 (or a wrong 2x^2 when `wrong`)."""

    def __init__(self, wrong=False):
        self.wrong = wrong

    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, gy):
        return gy * (2 if self.wrong else 3) * self.x**2


class WeightedSum(Function):
    """y = sum_j x[:, j] * w[j]; its weight gradient forgets to sum over the batch when `wrong`."""

    def __init__(self, wrong=False):
        self.wrong = wrong

    def forward(self, x, w):
        self.x, self.w = x, w
        return x @ w

    def backward(self, gy):
        gw = self.x[0] * gy[0] if self.wrong else self.x.T @ gy
        return gy[:, None] * self.w[None, :], gw


class Scale(nn.Module):
    """A user's layer with a parameter, built on a user's Function."""

    def __init__(self, wrong=False):
        self.gain = nn.Parameter(np.full(3, 2.0, np.float32), name="gain")
        self.wrong = wrong

    def forward(self, x):
        return WeightedSum(self.wrong)(x, self.gain)


def test_a_correct_user_function_passes(xp):
    x = xp.asarray(np.random.default_rng(0).standard_normal((3, 4)))
    error = gradcheck(lambda x: Cube()(x), [x])
    assert isinstance(error, float) and error < 1e-4  # well inside rtol


def test_a_wrong_backward_fails_naming_the_input_and_element(xp):
    x = xp.asarray(np.random.default_rng(0).standard_normal((3, 4)) + 3)
    with pytest.raises(GradcheckError) as failure:
        gradcheck(lambda x: Cube(wrong=True)(x), [x])
    message = str(failure.value)
    assert "gradient of input 0 (shape (3, 4)) is wrong at (" in message and "analytic" in message and "numeric" in message
    assert failure.value.max_relative_error == pytest.approx(1 / 3, rel=1e-4)  # 2x^2 against 3x^2


def test_the_failing_input_is_named_when_the_first_is_right():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal(3)
    gradcheck(lambda x, w: WeightedSum()(x, w), [x, w])
    with pytest.raises(GradcheckError, match=r"gradient of input 1 \(shape \(3,\)\)"):
        gradcheck(lambda x, w: WeightedSum(wrong=True)(x, w), [x, w])


def test_parameters_are_named_by_their_key_and_restored():
    x = np.random.default_rng(2).standard_normal((4, 3))
    good = Scale()
    gradcheck(good, [x], params=dict(good.named_parameters()))
    bad = Scale(wrong=True)
    with pytest.raises(GradcheckError, match=r"gradient of gain \(shape \(3,\)\)"):
        gradcheck(bad, [x], params={"gain": bad.gain})
    with pytest.raises(GradcheckError, match=r"gradient of gain"):
        gradcheck(bad, [x], params=[bad.gain])  # a list names them by Parameter.name
    for layer in (good, bad):  # float32 values and no gradient, as before the check
        assert layer.gain.dtype == np.float32 and layer.gain.grad is None
        assert layer.gain.data.tolist() == [2.0, 2.0, 2.0]


def test_inputs_are_checked_in_float64_even_when_given_float32():
    seen = []

    def fn(x):
        seen.append(x.dtype)
        return Cube()(x)

    gradcheck(fn, [np.ones((2, 2), np.float32)])
    assert set(seen) == {np.dtype(np.float64)}


def test_a_tolerance_too_tight_for_rounding_fails():
    x = np.random.default_rng(3).standard_normal((3, 3)) * 10
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: x.exp(), [x], eps=1e-3, atol=0.0, rtol=1e-12)  # truncation error of a large eps


def test_whole_stack_conv_lrn_pool_linear_loss(xp):
    rng = np.random.default_rng(4)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=1, padding=1, weight_std=0.5, bias_init=0.1, rng=rng),
        nn.ReLU(),
        nn.LocalResponseNorm(5, alpha=0.5),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(4, 4, 2, groups=2, weight_std=0.5, rng=rng),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(4, 3, weight_std=0.5, rng=rng),
    ).to("gpu" if xp is not np else "cpu")
    model.eval()  # dropout off; its training behaviour has a fixed-mask check of its own
    labels = xp.asarray([2, 0])
    x = xp.asarray(rng.standard_normal((2, 3, 5, 6)))
    params = dict(model.named_parameters())
    gradcheck(lambda x: F.softmax_cross_entropy(model(x), labels), [x], params=params)  # raises when wrong
    assert get_array_module(model[0].weight.data) is xp


def test_exported_from_the_package():
    assert tinyalex.gradcheck is gradcheck and issubclass(tinyalex.GradcheckError, AssertionError)


@pytest.mark.parametrize("check", all_checks(), ids=lambda c: f"{c.name}[{c.shapes}]")
def test_every_check_of_the_command_line_passes(check):
    check.run("cpu")  # raises GradcheckError when a backward is wrong


@pytest.mark.gpu
def test_every_check_passes_on_the_gpu():
    for check in all_checks(seed=1):
        check.run("gpu")


@pytest.mark.gpu
def test_the_paper_sized_layers_pass_directionally_on_the_gpu():
    for check in paper_checks(seed=1):
        assert check.run("gpu", directional=True) < 1e-6, check.name


def test_the_default_eps_sees_a_backward_off_by_one_percent():
    class Almost(Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, gy):
            return gy * 2.02 * self.x

    with pytest.raises(GradcheckError):
        gradcheck(lambda x: Almost()(x), [np.random.default_rng(5).standard_normal(4) + 2])


def test_a_transposed_input_is_perturbed_in_its_own_layout(xp):
    """A Fortran-order input (a transpose) used to be perturbed through a reshaped copy: numeric gradient 0."""
    x = xp.asarray(np.random.default_rng(6).standard_normal((3, 4))).T
    assert x.flags.f_contiguous and not x.flags.c_contiguous
    seen = []

    def fn(t):
        seen.append(t.data.flags.f_contiguous)
        return Cube()(t)

    assert gradcheck(fn, [x]) < 1e-4
    assert all(seen)  # the op saw the layout it was given
    with pytest.raises(GradcheckError, match=r"gradient of input 0 \(shape \(4, 3\)\)"):
        gradcheck(lambda t: Cube(wrong=True)(t), [x + 3])


def test_a_fortran_order_parameter_is_checked_too():
    layer = nn.Linear(3, 4, weight_std=0.5, rng=0)
    layer.weight.data = np.asfortranarray(layer.weight.data)
    x = np.random.default_rng(7).standard_normal((2, 3))
    gradcheck(layer, [x], params=dict(layer.named_parameters()))


def test_directional_mode_passes_correct_ops_with_two_evaluations(xp):
    calls = []
    rng = np.random.default_rng(8)
    x, w = xp.asarray(rng.standard_normal((4, 3))), xp.asarray(rng.standard_normal(3))

    def fn(x, w):
        calls.append(1)
        return WeightedSum()(Cube()(x), w)

    error = gradcheck(fn, [x, w], directional=True)
    assert error < 1e-6 and len(calls) == 4  # one forward with backward, the determinism probe, then the two probes


def test_directional_mode_fails_wrong_backwards(xp):
    rng = np.random.default_rng(9)
    x, w = xp.asarray(rng.standard_normal((4, 3)) + 3), xp.asarray(rng.standard_normal(3))
    with pytest.raises(GradcheckError, match=r"directional derivative along a random direction \(seed 0\) is wrong"):
        gradcheck(lambda x: Cube(wrong=True)(x), [x], directional=True)
    with pytest.raises(GradcheckError, match="input 1 \\(3,\\)"):  # the message lists what was checked
        gradcheck(lambda x, w: WeightedSum(wrong=True)(x, w), [x, w], directional=True)
    layer = Scale(wrong=True)
    with pytest.raises(GradcheckError):
        gradcheck(layer, [np.asarray(rng.standard_normal((4, 3)))], params={"gain": layer.gain}, directional=True)


def test_directional_mode_checks_the_paper_sized_lrn_and_sees_a_small_error(monkeypatch):
    from tinyalex.ops import local_response_norm as lrn

    x = np.random.default_rng(10).standard_normal((2, 96, 27, 27))
    check = lambda x: F.local_response_norm(x, 5, 1e-4, 0.75, 2.0)  # noqa: E731 - the paper's constants
    assert gradcheck(check, [x], directional=True) < 1e-6
    right = lrn.LocalResponseNorm.backward
    monkeypatch.setattr(lrn.LocalResponseNorm, "backward", lambda self, gy: right(self, gy) * 1.001)
    with pytest.raises(GradcheckError):
        gradcheck(check, [x], directional=True)
