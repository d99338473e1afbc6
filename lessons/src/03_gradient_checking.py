# %% [markdown]
# # Lesson 3 — Gradient checking
#
# A wrong `backward` does not crash. The network still trains, just worse, and nothing tells you why. The cure is
# to compare every backward against a derivative computed without it, from the forward pass alone.
#
# **You will learn**
# - the central difference and why its error is $O(h^2)$;
# - why the step $h$ cannot be made arbitrarily small, and why checks run in float64, not float32;
# - how to measure agreement with a *relative* error;
# - how to check any tinyalex operation or layer with `tinyalex.gradcheck`, and how a broken backward is caught.
#
# You write the numeric gradient itself and a corrected backward (graded exercises 3.1 and 3.2).

# %%
DEVICE = "cpu"  # gradcheck works on "gpu" arrays too (it copies them to float64 on the same device)

import matplotlib.pyplot as plt
import numpy as np

import facts
import tinyalex
from grading import check
from tinyalex import functional as F

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Central differences
#
# Taylor's expansion gives $f(x \pm h) = f(x) \pm h f'(x) + \tfrac{h^2}{2} f''(x) \pm \tfrac{h^3}{6} f'''(x) + \dots$,
# so the even terms cancel in
#
# $$ \frac{f(x+h) - f(x-h)}{2h} = f'(x) + \frac{h^2}{6} f'''(x) + O(h^4). $$
#
# The one-sided difference $(f(x+h)-f(x))/h$ is only $O(h)$ accurate. But $h$ cannot shrink forever: $f(x \pm h)$
# are rounded to the machine precision $\epsilon$ ($\approx 6\cdot10^{-8}$ in float32, $10^{-16}$ in float64),
# and that rounding error is divided by $2h$. The total error is roughly $h^2|f'''|/6 + \epsilon |f| / h$,
# smallest near $h \approx \epsilon^{1/3}$. Let us watch it for $f = \tanh$ at $x = 0.5$.

# %%
x0 = 0.5
exact = 1 - np.tanh(x0) ** 2
hs = np.logspace(-12, -0.5, 60)
TOLERANCE = 1e-4

def difference_errors(dtype, outputs=1):
    """Relative error of d/dx0 of sum(g * tanh(x)) by central differences, for each h of `hs`, in dtype.
    With outputs=1 that is tanh'(x0) itself; with more, one term of a long sum depends on x0."""
    g = np.random.default_rng(1).standard_normal(outputs).astype(dtype)
    x = np.random.default_rng(2).standard_normal(outputs).astype(dtype)
    g[0], x[0] = 1, x0
    errors = []
    for h in hs:
        up, down = x.copy(), x.copy()
        up[0] += dtype(h)
        down[0] -= dtype(h)
        numeric = (float((g * np.tanh(up)).sum()) - float((g * np.tanh(down)).sum())) / (2 * float(dtype(h)))
        errors.append(abs(numeric - exact) / exact)
    return np.array(errors)

def band(errors, name):
    """Print and record where the error is below the tolerance, and its best."""
    good = hs[errors < TOLERANCE]
    decades = np.log10(good.max() / good.min()) if len(good) > 1 else 0.0
    print(f"{name}: below {TOLERANCE:g} for h from {good.min():.1e} to {good.max():.1e} ({decades:.1f} decades);"
          f" best {errors.min():.1e} at h = {hs[errors.argmin()]:.1e}")
    facts.record(measured=True, **{f"{name}_low": good.min(), f"{name}_high": good.max(), f"{name}_decades": decades,
                                   f"{name}_best": errors.min(), f"{name}_best_h": hs[errors.argmin()]})

fig, ax = plt.subplots()
for dtype in (np.float32, np.float64):
    errors = difference_errors(dtype)
    ax.loglog(hs, np.maximum(errors, 1e-17), label=np.dtype(dtype).name)
    band(errors, np.dtype(dtype).name)
ax.axhline(TOLERANCE, color="gray", ls=":", lw=1)
ax.set(xlabel="step h", ylabel="relative error of the central difference", ylim=(1e-13, 10))
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# In float64 the error falls as $h^2$ (slope 2 on the right) down to {{float64_best:.0e}} near
# $h = {{float64_best_h:.0e}}$, then rises again as rounding takes over. In float32 the best is {{float32_best:.0e}},
# near $h = {{float32_best_h:.0e}}$ ($\approx \epsilon^{1/3}$), and the error stays below the tolerance we would
# like to check with ($10^{-4}$, dotted) for $h$ from {{float32_low:.0e}} to {{float32_high:.0e}}: about
# {{float32_decades:.0f}} decades, against {{float64_decades:.0f}} in float64. So for $\tanh$ at one point float32
# would do, with care. A gradient check does not difference one $\tanh$, though: it differences a *sum* over a
# whole layer's outputs, $\sum_i g_i y_i$, whose rounding error grows with the sum while the derivative by one
# input stays the same size. The same check when $\tanh(x)$ is one of 10,000 outputs:

# %%
for dtype in (np.float32, np.float64):
    band(difference_errors(dtype, outputs=10_000), f"sum_{np.dtype(dtype).name}")

# %% [markdown]
# In float32 the band shrinks to {{sum_float32_decades:.1f}} decades ($h$ from {{sum_float32_low:.0e}} to
# {{sum_float32_high:.0e}}), and the best error, {{sum_float32_best:.0e}}, is so close to the tolerance that a check
# could not tell a small bug from rounding, and would have to guess the one good $h$ in advance. Float64 still reaches {{sum_float64_best:.0e}} over {{sum_float64_decades:.0f}} decades. **So gradient
# checks run in float64**, even for a framework that trains in float32; `tinyalex.gradcheck` copies its inputs to
# float64 and uses $h = 10^{-6}$.
#
# ## 2. Relative error
#
# Gradients range over many orders of magnitude, so an absolute tolerance is either too strict for big ones or too
# loose for small ones. For each element, with $a$ the analytic gradient (from `backward`) and $n$ the numeric one,
#
# $$ \text{rel} = \frac{|a - n|}{\max(|a|, |n|, \text{atol})}. $$
#
# In float64 a correct backward typically gives $10^{-6}$ or less; above $10^{-4}$ something is wrong.
#
# ## 3. The random upstream gradient
#
# A layer has many outputs. `gradcheck` contracts them with a random array $g$ and checks the derivative of the
# scalar $\sum_i y_i g_i$: every element of the Jacobian then takes part with its own weight. Checking
# $\sum_i y_i$ instead (all $g_i = 1$) hides mistakes that only move gradient between outputs. A flip is the
# classic case: its backward must flip the gradient back. Here is a version that forgets.

# %%
class BrokenFlip(tinyalex.Function):
    """Reverses the last axis; the backward forgets to reverse the gradient back."""

    def forward(self, x):
        return x[..., ::-1].copy()

    def backward(self, gy):
        return gy            # should be gy[..., ::-1]


def numeric_flip_gradient(x, g, h=1e-6):
    """d(sum(flip(x) * g))/dx by central differences, one element at a time."""
    grad = np.zeros_like(x)
    for i in range(len(x)):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = ((up[::-1] * g).sum() - (down[::-1] * g).sum()) / (2 * h)
    return grad


x = rng.standard_normal(5)
for name, g in [("g = ones  ", np.ones(5)), ("g = random", rng.standard_normal(5))]:
    t = tinyalex.Tensor(x, requires_grad=True)
    BrokenFlip()(t).backward(g)
    print(f"{name}: largest |analytic - numeric| = {np.abs(t.grad - numeric_flip_gradient(x, g)).max():.2e}")

# %% [markdown]
# With all-ones the broken backward looks perfect; the random $g$ exposes it.
#
# **Exercise 3.1.** Write `numeric_gradient(f, x, h)`, the central-difference gradient of any function `f` that
# takes an array and returns a number: for every element $x_i$ (any shape: `np.ndindex(x.shape)` walks the
# indices), $(f(x + h e_i) - f(x - h e_i)) / 2h$. Leave `x` as you found it. The check compares your gradient with
# the exact one of random functions $f(x) = \sum g \odot \tanh(x M)$, at $h = 10^{-4}$.

# %%
def numeric_gradient(f, x, h):
    """The gradient of the number f(x) by central differences: an array shaped like x."""
    ### BEGIN SOLUTION
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up) - f(down)) / (2 * h)
    return grad
    ### END SOLUTION

# %%
def smooth_function(rng):
    """A random f(x) = sum(g * tanh(x @ m)) for x of shape (3, 4), with its exact gradient as f.exact."""
    g, m = rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    f = lambda x: float((g * np.tanh(x @ m)).sum())
    f.exact = lambda x: (g * (1 - np.tanh(x @ m) ** 2)) @ m.T
    return f

check(numeric_gradient, reference=lambda f, x, h: f.exact(x),
      cases=lambda rng: dict(f=smooth_function(rng), x=rng.standard_normal((3, 4)), h=1e-4))

# %% [markdown]
# ## 4. `tinyalex.gradcheck`
#
# `gradcheck(fn, inputs, params=())` runs `fn` on float64 copies of the inputs, backpropagates a random $g$,
# compares with central differences element by element, and returns the largest relative error, or raises
# `GradcheckError` naming the input and the worst element. Integer inputs (labels) pass through as constants, and
# `fn` is first run once more at the same point: a random `fn` (dropout without a seed) would otherwise look like a
# wrong gradient. The tests of tinyalex check every operation this way.
# A few, on small shapes (the check costs two forward passes per input element):

# %%
x = rng.standard_normal((2, 3, 6, 6))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)
checks = {
    "relu":        (F.relu, [rng.standard_normal((3, 4))]),
    "tanh":        (F.tanh, [rng.standard_normal((3, 4))]),
    "conv2d":      (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [x, w, b]),
    "max_pool2d":  (lambda x: F.max_pool2d(x, 3, 2), [rng.permutation(2 * 3 * 7 * 7).reshape(2, 3, 7, 7) / 10.0]),
    "lrn":         (lambda x: F.local_response_norm(x, size=5, alpha=0.5, beta=0.75, k=2.0), [rng.standard_normal((2, 7, 3, 3))]),
    "loss":        (lambda z: F.softmax_cross_entropy(z, np.array([0, 2, 1])), [rng.standard_normal((3, 4))]),
}
for name, (fn, inputs) in checks.items():
    inputs = [tinyalex.Tensor(a).to(DEVICE) for a in inputs]
    print(f"{name:12s} largest relative error {tinyalex.gradcheck(fn, inputs):.1e}")

# %% [markdown]
# Two details matter for checks that can fail:
# - **max pooling** gets distinct values (a permutation): with ties, the maximum moves when an input is nudged by
#   $h$ and the function is not differentiable there;
# - **LRN** gets a large $\alpha = 0.5$: with the paper's $\alpha = 10^{-4}$ the cross-channel term is so small
#   that a window off by one channel would pass unnoticed.
#
# ## 5. A broken backward, caught
#
# Here is a *leaky ReLU*, $f(x) = x$ for $x > 0$ and $0.1x$ otherwise, whose backward forgets the slope on the
# negative side.

# %%
class LeakyReLU(tinyalex.Function):
    def __init__(self, slope=0.1):
        self.slope = slope

    def forward(self, x):
        xp = tinyalex.get_array_module(x)
        self.positive = x > 0
        return xp.where(self.positive, x, self.slope * x)

    def backward(self, gy):
        return gy * self.positive          # bug: the negative side should get slope * gy

x = tinyalex.Tensor(np.array([[0.5, -1.0], [2.0, -0.3]])).to(DEVICE)
try:
    tinyalex.gradcheck(lambda t: LeakyReLU()(t), [x])
except tinyalex.GradcheckError as error:
    print("GradcheckError:", error)

# %% [markdown]
# The message names the input, the element and both values: the analytic gradient is 0 where the numeric one is
# $0.1\,g$. This is the workflow for any new layer: write `forward` and `backward`, then `gradcheck` it on a few
# small random inputs (and, for a layer with parameters, pass them in `params`) before training with it. The
# command line does the same for tinyalex's own layers: `tinyalex gradcheck`.
#
# **Exercise 3.2.** Write the correct backward as a plain function: `leaky_relu_backward(x, gy, slope)` returns
# $\partial L/\partial x$ given the upstream gradient `gy`, for $f(x) = x$ where $x > 0$ and `slope * x` elsewhere.
# The check has no tinyalex version to compare with, so it does what this lesson teaches: it compares with central
# differences of the forward pass.

# %%
def leaky_relu_backward(x, gy, slope):
    """dL/dx of the leaky ReLU, given dL/dy = gy."""
    ### BEGIN SOLUTION
    return np.where(x > 0, gy, slope * gy)
    ### END SOLUTION

# %%
def leaky_relu_numeric(x, gy, slope, h=1e-6):
    forward = lambda a: np.where(a > 0, a, slope * a)
    return (forward(x + h) - forward(x - h)) / (2 * h) * gy   # elementwise: each output reads one input

check(leaky_relu_backward, leaky_relu_numeric,
      cases=lambda rng: dict(x=rng.standard_normal((4, 5)), gy=rng.standard_normal((4, 5)), slope=rng.uniform(0.01, 0.3)))

# %% [markdown]
# ## 6. Checking a layer with parameters
#
# A layer's parameters are checked through `params`: gradcheck switches them to float64 for the check and
# restores them afterwards.

# %%
layer = tinyalex.nn.Conv2d(4, 6, 3, padding=1, groups=2, weight_std=0.5, rng=0).to(DEVICE)
x = tinyalex.Tensor(rng.standard_normal((2, 4, 5, 5))).to(DEVICE)
print("grouped conv layer:", f"{tinyalex.gradcheck(layer, [x], params=layer.parameters()):.1e}")
print("parameters are back in", layer.weight.dtype)

# %% [markdown]
# ## Questions
#
# 1. Check `F.max_pool2d(x, 2, 2)` on an input with ties, e.g. `np.ones((1, 1, 4, 4))`. Does it pass? Why (or why
#    not) should it?
# 2. Check a *one-sided* difference in float64: for $\tanh$, how small can the relative error of
#    $(f(x+h) - f(x))/h$ get, and at which $h$? Look at many points $x$, not one: at a single point the smallest
#    error on a grid of $h$ can be a lucky cancellation.
#
# The answers are in the collapsed cell below.

# %% [solution]
try:
    tinyalex.gradcheck(lambda t: F.max_pool2d(t, 2, 2), [tinyalex.Tensor(np.ones((1, 1, 4, 4)))])
    print("1. passed")
except tinyalex.GradcheckError as error:
    print("1. fails, as it should: nudging one of four tied inputs up makes it the maximum, nudging it down"
          " does not, so the function has a kink exactly there and no single derivative.")

hs = np.logspace(-12, -1, 111)
points = np.linspace(-2, 2, 201)
derivative = 1 - np.tanh(points) ** 2
one_sided = np.abs((np.tanh(points + hs[:, None]) - np.tanh(points)) / hs[:, None] - derivative) / derivative
typical = np.median(one_sided, axis=1)                     # over the 201 points, for each h
best = int(typical.argmin())
at_half = one_sided[:, 100 + 25]                           # the single point x = 0.5
print(f"2. the median error over {len(points)} points is smallest at h = {hs[best]:.0e}: {typical[best]:.0e},"
      f" close to sqrt(eps) = {np.sqrt(np.finfo(float).eps):.0e} as the O(h) + O(eps/h) error predicts."
      f" At x = 0.5 alone the grid's best is {at_half.min():.0e} (h = {hs[at_half.argmin()]:.0e}): luck, not the floor.")

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
