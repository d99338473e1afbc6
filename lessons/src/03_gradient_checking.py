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

# %%
DEVICE = "cpu"  # gradcheck works on "gpu" arrays too (it copies them to float64 on the same device)

import matplotlib.pyplot as plt
import numpy as np

import tinyalex
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
fig, ax = plt.subplots()
for dtype in (np.float32, np.float64):
    x = dtype(x0)
    errors = []
    for h in hs:
        h = dtype(h)
        numeric = (np.tanh(x + h) - np.tanh(x - h)) / (2 * h)
        errors.append(abs(float(numeric) - exact) / exact)
    ax.loglog(hs, np.maximum(errors, 1e-17), label=np.dtype(dtype).name)
ax.axhline(1e-4, color="gray", ls=":", lw=1)
ax.set(xlabel="step h", ylabel="relative error of the central difference", ylim=(1e-13, 10))
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# In float64 the error falls as $h^2$ (slope 2 on the right) down to about $10^{-12}$ near $h \approx 10^{-5}$, then
# rises again as rounding takes over. In float32 the best is about $10^{-5}$, reached only in a narrow band near
# $h \approx \epsilon^{1/3} \approx 4\cdot10^{-3}$; a little either side and the error passes the tolerance we would
# like to check with (dotted line), and for a less smooth function than $\tanh$ the band closes altogether.
# **So gradient checks run in float64**, even for a framework that trains in float32; `tinyalex.gradcheck` copies
# its inputs to float64 and uses $h = 10^{-6}$.
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


def numeric_gradient(f, x, g, h=1e-6):
    """d(sum(f(x) * g))/dx by central differences, one element at a time (x float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = ((f(up) * g).sum() - (f(down) * g).sum()) / (2 * h)
    return grad


x = rng.standard_normal(5)
for name, g in [("g = ones  ", np.ones(5)), ("g = random", rng.standard_normal(5))]:
    t = tinyalex.Tensor(x, requires_grad=True)
    BrokenFlip()(t).backward(g)
    numeric = numeric_gradient(lambda a: a[..., ::-1], x, g)
    print(f"{name}: largest |analytic - numeric| = {np.abs(t.grad - numeric).max():.2e}")

# %% [markdown]
# With all-ones the broken backward looks perfect; the random $g$ exposes it.
#
# ## 4. `tinyalex.gradcheck`
#
# `gradcheck(fn, inputs, params=())` runs `fn` on float64 copies of the inputs, backpropagates a random $g$,
# compares with central differences element by element, and returns the largest relative error, or raises
# `GradcheckError` naming the input and the worst element. The tests of tinyalex check every operation this way.
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
# ## Exercises
#
# 1. Fix `LeakyReLU.backward` and show that `gradcheck` passes.
# 2. Check `F.max_pool2d(x, 2, 2)` on an input with ties, e.g. `np.ones((1, 1, 4, 4))`. Does it pass? Why (or why
#    not) should it?
# 3. Check a *one-sided* difference in float64: for $\tanh$ at $0.5$, what is the smallest relative error you can
#    reach with $(f(x+h) - f(x))/h$, and at which $h$?

# %% [solution]
class FixedLeakyReLU(LeakyReLU):
    def backward(self, gy):
        xp = tinyalex.get_array_module(gy)
        return xp.where(self.positive, gy, self.slope * gy)

x = tinyalex.Tensor(np.array([[0.5, -1.0], [2.0, -0.3]])).to(DEVICE)
print("1. fixed:", f"{tinyalex.gradcheck(lambda t: FixedLeakyReLU()(t), [x]):.1e}")

try:
    tinyalex.gradcheck(lambda t: F.max_pool2d(t, 2, 2), [tinyalex.Tensor(np.ones((1, 1, 4, 4)))])
    print("2. passed")
except tinyalex.GradcheckError as error:
    print("2. fails, as it should: nudging one of four tied inputs up makes it the maximum, nudging it down"
          " does not, so the function has a kink exactly there and no single derivative.")

hs = np.logspace(-12, -1, 200)
one_sided = np.abs((np.tanh(0.5 + hs) - np.tanh(0.5)) / hs - exact) / exact
print(f"3. best one-sided relative error {one_sided.min():.1e} at h = {hs[one_sided.argmin()]:.0e}"
      " (the error is O(h) + O(eps/h), smallest near sqrt(eps) = 1e-8)")
