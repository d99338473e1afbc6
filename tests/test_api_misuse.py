"""What a tinkerer gets wrong in the Python API gets a clear error, not a silent wrong result.

Each case below was found by trying the API as a user would (2026-12-02); each failed on the code before.
"""
import numpy as np
import pytest

from tinyalex import Function, Tensor, get_array_module, gradcheck, nn, no_grad
from tinyalex import functional as F
from tinyalex.gradcheck import GradcheckError
from tinyalex.models import alexnet_small
from tinyalex.ops.validate import ShapeError
from tinyalex.optim import MomentumSGD


class Swish(Function):
    """x * sigmoid(x), a user's own op."""

    def forward(self, x):
        xp = get_array_module(x)
        self.x, self.s = x, 1 / (1 + xp.exp(-x))
        return x * self.s

    def backward(self, gy):
        return gy * (self.s + self.x * self.s * (1 - self.s))


# --- the engine --------------------------------------------------------------------------------------
def test_calling_one_op_instance_twice_in_a_live_graph_is_refused():
    act = Swish()
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    y = act(x)
    with pytest.raises(RuntimeError, match="make a new one for each call"):
        act(y)


def test_an_op_instance_may_be_called_again_once_its_graph_is_gone():
    act = Swish()
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    act(x).sum().backward()
    first = x.grad.copy()
    x.grad = None
    act(x).sum().backward()  # backward freed the first call: nothing of it is overwritten
    np.testing.assert_array_equal(x.grad, first)


def test_backward_on_a_tensor_without_a_graph_says_so():
    lin = nn.Linear(3, 2, rng=0)
    with no_grad():
        loss = F.softmax_cross_entropy(lin(np.ones((4, 3), np.float32)), np.array([0, 1, 0, 1]))
    with pytest.raises(RuntimeError, match="needs no gradient"):
        loss.backward()
    with pytest.raises(RuntimeError, match="needs no gradient"):
        Tensor(np.array(2.0)).backward()
    leaf = Tensor(np.array(2.0), requires_grad=True)
    leaf.backward()  # a leaf that asks for a gradient still gets d(self)/d(self) = 1
    assert leaf.grad == 1.0


class ListBackward(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        return [gy, 2 * gy]  # a list, not a tuple


class TensorBackward(Function):
    def forward(self, a):
        return 2 * a

    def backward(self, gy):
        return Tensor(2 * gy)


def test_backward_may_return_a_list_and_a_tensor_gets_a_clear_error():
    a, b = (Tensor(np.ones(3), requires_grad=True) for _ in range(2))
    ListBackward()(a, b).sum().backward()
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])
    with pytest.raises(TypeError, match="returned a Tensor.*raw arrays"):
        TensorBackward()(Tensor(np.ones(3), requires_grad=True)).sum().backward()


def test_an_array_operand_promotes_as_the_same_array_in_a_tensor_does():
    a = Tensor(np.ones(3, np.float32))
    d = np.full(3, 1e-10)
    assert (a + d).dtype == (a + Tensor(d)).dtype == np.float64
    assert (a + d).data[0] != 1.0  # the float64 addend was not rounded away in float32
    # numbers, Python's or NumPy's scalars, take the tensor's dtype, as in PyTorch
    assert (a * 2.0).dtype == (a * np.float64(2)).dtype == (a ** np.float64(2)).dtype == np.float32


def test_flatten_keeps_an_empty_batch():
    assert nn.Flatten()(np.ones((0, 3, 2, 2), np.float32)).shape == (0, 12)


# --- ops and layers ----------------------------------------------------------------------------------
def test_relu_keeps_a_0d_input_0d():
    assert F.relu(Tensor(np.array(0.5))).shape == ()
    assert gradcheck(F.relu, [np.array(0.5)]) < 1e-6


@pytest.mark.parametrize("call, message", [
    (lambda: F.linear(np.ones((2, 5)), np.zeros((3, 5)), np.ones(4)), r"bias of shape \(3,\)"),
    (lambda: F.linear(np.ones((2, 3)), np.ones(3)), "weight of shape"),
    (lambda: F.softmax_cross_entropy(np.array(1.0), np.array(0)), r"logits \(N, K\)"),
    (lambda: F.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3))), "weight of shape"),
    (lambda: F.conv2d(np.ones((1, 3, 5, 5)), np.ones((4, 3, 3, 3)), np.ones(3)), r"bias of shape \(4,\)"),
    (lambda: F.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), stride=0), "stride must be at least 1"),
    (lambda: F.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), padding=-1), "padding must be at least 0"),
    (lambda: F.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), groups=0), "groups must be at least 1"),
    (lambda: F.max_pool2d(np.ones((1, 1, 4, 4)), 3, 0), "stride must be at least 1"),
    (lambda: F.max_pool2d(np.ones((1, 1, 4, 4)), 0), "kernel_size must be at least 1"),
    (lambda: nn.Conv2d(3, 4, 0), "kernel_size must be at least 1"),
    (lambda: nn.Conv2d(3, 3, 3, groups=0), "do not split into 0 groups"),
    (lambda: nn.MaxPool2d(3, stride=0), "stride must be at least 1"),
])
def test_bad_layer_arguments_name_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_dropout_refuses_integers_whose_scale_would_round_down():
    with pytest.raises(ShapeError, match="floating-point"):
        F.dropout(np.full(100, 10), p=0.3, seed=1)


def test_alexnet_names_the_input_it_expects():
    net = alexnet_small(seed=0)
    with pytest.raises(ShapeError, match=r"AlexNet: expected images of shape \(N, 3, 64, 64\), got \(2, 3, 80, 80\)"):
        net(np.zeros((2, 3, 80, 80), np.float32))
    with pytest.raises(ShapeError, match=r"floating-point input \(float32 or float64\), got dtype uint8"):
        net(np.zeros((2, 3, 64, 64), np.uint8))  # scaled by 1/64 it used to run, silently, in float64
    with pytest.raises(ShapeError, match="got dtype float16"):
        net(np.zeros((2, 3, 64, 64), np.float16))  # it ran on the CPU, and failed in every CUDA kernel


def test_every_op_refuses_float16_on_the_cpu_as_its_kernels_would():
    x = np.zeros((1, 6, 7, 7), np.float16)
    for op in (F.local_response_norm, lambda v: F.max_pool2d(v, 3, 2), lambda v: F.dropout(v, p=0.5, seed=1)):
        with pytest.raises(ShapeError, match="got dtype float16"):
            op(x)


def test_place_towers_shares_no_dropout_state_with_the_grouped_net():
    x = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    net = alexnet_small(seed=2)
    towers = net.place_towers(("cpu", "cpu"))
    net(x)  # advances the grouped net's dropout steps only
    fresh = alexnet_small(seed=2).place_towers(("cpu", "cpu"))
    np.testing.assert_array_equal(towers(x).data, fresh(x).data)


# --- the optimiser -----------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"lr": -1.0}, "lr must be"), ({"lr": float("nan")}, "lr must be"),
    ({"momentum": 1.5}, r"momentum must be in \[0, 1\)"), ({"momentum": -0.1}, "momentum must be"),
    ({"weight_decay": -1e-4}, "weight_decay must be"),
])
def test_momentum_sgd_refuses_hyperparameters_that_cannot_train(options, message):
    with pytest.raises(ValueError, match=message):
        MomentumSGD([nn.Parameter(np.ones(3, np.float32))], **options)
    with pytest.raises(ValueError, match=message):
        MomentumSGD([{"params": [nn.Parameter(np.ones(3, np.float32))], **options}])


def test_momentum_sgd_refuses_a_parameter_listed_twice():
    q = nn.Parameter(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="more than once"):
        MomentumSGD([q, q])


# --- gradcheck ---------------------------------------------------------------------------------------
def test_gradcheck_passes_integer_labels_unchanged_as_constants():
    z = np.random.default_rng(0).standard_normal((2, 3))
    labels = np.array([0, 2])
    assert gradcheck(lambda logits, t: F.softmax_cross_entropy(logits, t), [z, labels]) < 1e-5


def test_gradcheck_refuses_complex_inputs_and_results_that_are_not_tensors():
    with pytest.raises(TypeError, match="complex"):
        gradcheck(F.relu, [np.ones(3, np.complex128)])
    with pytest.raises(TypeError, match="must return one Tensor, got ndarray"):
        gradcheck(lambda x: x.data * 2, [np.ones(3)])
    with pytest.raises(ValueError, match="nothing to check"):
        gradcheck(lambda t: Tensor(t.data * 1.0), [np.arange(3)])


def test_gradcheck_tells_a_random_fn_from_a_wrong_gradient():
    with pytest.raises(GradcheckError, match="not deterministic"):
        gradcheck(lambda x: F.dropout(x, 0.5), [np.ones((4, 4))])
    assert gradcheck(lambda x: F.dropout(x, 0.5, seed=3), [np.ones((4, 4))]) < 1e-6


def test_gradcheck_restores_the_params_gradients():
    layer = nn.Linear(3, 2, rng=0)
    before = np.full(layer.weight.shape, 7.0, np.float32)
    layer.weight.grad = before.copy()
    gradcheck(layer, [np.ones((2, 3))], params=layer.parameters())
    np.testing.assert_array_equal(layer.weight.grad, before)
