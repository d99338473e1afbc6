# %% [markdown]
# # Lesson 6 — Local response normalisation
#
# Section 3.3 of the paper adds a layer after the ReLUs of conv1 and conv2 that makes neighbouring feature maps
# compete: a unit is divided by a power of the summed squares of the units at the same position in the adjacent
# channels. The paper credits it with 1.4% (top-1) and 1.2% (top-5) of its error rate. Later networks dropped it
# (batch normalisation replaced it), but it is part of AlexNet, and its constants are easy to get wrong.
#
# **You will learn**
# - the formula and the paper's constants $k = 2$, $n = 5$, $\alpha = 10^{-4}$, $\beta = 0.75$;
# - what it does to activations: a nearly constant scale for small ones, competition between channels for large ones;
# - how PyTorch's and Caffe's parameters map onto the paper's (they divide $\alpha$ by $n$; PyTorch defaults to $k = 1$).

# %%
DEVICE = "cpu"  # "gpu" runs the tinyalex calls on CuPy

import matplotlib.pyplot as plt
import numpy as np

import tinyalex
from tinyalex import functional as F

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})
rng = np.random.default_rng(0)

def dev(a):
    return tinyalex.Tensor(a).to(DEVICE)

# %% [markdown]
# ## 1. The formula
#
# With $a^i_{x,y}$ the activity of channel $i$ at position $(x, y)$ (after the ReLU) and $N$ channels,
#
# $$ b^i_{x,y} = a^i_{x,y} \Big/ \Big(k + \alpha \sum_{j=\max(0,\, i-n/2)}^{\min(N-1,\, i+n/2)} \big(a^j_{x,y}\big)^2\Big)^{\beta} $$
#
# The sum runs over $n = 5$ channels centred on $i$ (fewer at the first and last channels), with $k = 2$,
# $\alpha = 10^{-4}$, $\beta = 0.75$ chosen on a validation set. "Adjacent" refers to the arbitrary order of the
# kernel maps; it is a form of *lateral inhibition* borrowed from real neurons. A direct translation:

# %%
def lrn_loop(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    b = np.empty_like(a)
    channels = a.shape[1]
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        s = (a[:, lo:hi + 1] ** 2).sum(axis=1)
        b[:, i] = a[:, i] / (k + alpha * s) ** beta
    return b

a = np.maximum(rng.standard_normal((2, 8, 4, 4)) * 50, 0)      # ReLU outputs of a sizeable magnitude
ours = lrn_loop(a)
theirs = F.local_response_norm(dev(a), size=5, alpha=1e-4, beta=0.75, k=2.0).numpy()
print("equal to tinyalex:", np.allclose(ours, theirs, rtol=1e-12))

# %% [markdown]
# tinyalex's version computes the windowed sum for all channels at once (a padded array and $n$ shifted adds), and
# its backward is checked by `gradcheck` with a large $\alpha$, as lesson 3 showed.
#
# ## 2. What it does to activations
#
# The divisor is $(2 + 10^{-4} S)^{0.75}$ with $S$ the sum of squares in the window. While $10^{-4} S \ll 2$ it is
# $2^{0.75} \approx 1.68$: LRN is then just a constant scale by $0.595$. Normalisation only starts to bite when
# $S$ approaches $k/\alpha = 20{,}000$, i.e. when units in the window are of order $\sqrt{20000/5} \approx 63$.

# %%
S = np.logspace(0, 7, 200)
plt.semilogx(S, (2 + 1e-4 * S) ** -0.75)
plt.axhline(2 ** -0.75, color="gray", ls=":", lw=1)
plt.axvline(2 / 1e-4, color="gray", ls="--", lw=1)
plt.xlabel("sum of squares S over the 5-channel window")
plt.ylabel("b / a = (2 + 1e-4 S)^-0.75")
plt.title("LRN's factor: constant until S ~ k / alpha")
plt.grid(alpha=0.3)
plt.show()
print(f"small activations are scaled by 2^-0.75 = {2 ** -0.75:.4f}")

# %% [markdown]
# Are AlexNet's activations that large? The paper feeds raw pixel values (0 to 255, minus the mean image), so
# conv1's outputs are in the tens at initialisation and grow during training. Here is conv1 of the paper's shape
# (96 filters of $11 \times 11 \times 3$, stride 4) on random images with pixel-sized values, with weights of
# standard deviation 0.01 as initialised and 0.05, a rough stand-in for trained, larger filters:

# %%
images = rng.uniform(-120, 120, (2, 3, 67, 67)).astype(np.float32)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, std in zip(axes, (0.01, 0.05)):
    conv1 = tinyalex.nn.Conv2d(3, 96, 11, stride=4, padding=2, weight_std=std, rng=1).to(DEVICE)
    act = F.relu(conv1(dev(images)))
    out = F.local_response_norm(act).numpy()
    act = act.numpy()
    positive = act > 0
    ratio = out[positive] / act[positive]
    bins = np.linspace(0, act.max(), 60)
    ax.hist(act[positive], bins, alpha=0.6, label="after ReLU")
    ax.hist(out[positive], bins, alpha=0.6, label="after LRN")
    ax.set(title=f"weights std {std}: b/a from {ratio.min():.3f} to {ratio.max():.3f}", xlabel="activation",
           yscale="log")
    ax.legend()
plt.show()

# %% [markdown]
# With the initial weights the factor stays close to the constant 0.595 (its range is in the title); with larger
# activations the largest ones are divided much more than the small ones, and the tail of the histogram is pulled
# in to about 52. That is a ceiling: for a unit alone in its window, $b = a / (k + \alpha a^2)^{\beta}$ is largest
# at $a^2 = k / (\alpha (2\beta - 1)) = 40{,}000$, where $b = 200 / 6^{0.75} \approx 52.2$, and beyond that a
# *stronger* input gives a *smaller* output.
#
# Which units lose most? Those with strong neighbours. A single position with one strongly active channel among
# quiet ones:

# %%
profile = np.full(16, 20.0)
profile[7] = 200.0                                   # one channel responds strongly
profile[12] = 60.0
a = profile.reshape(1, 16, 1, 1)
b = F.local_response_norm(dev(a)).numpy().ravel()
plt.bar(np.arange(16) - 0.2, profile * 2 ** -0.75, width=0.4, label="a x 0.595 (no competition)")
plt.bar(np.arange(16) + 0.2, b, width=0.4, label="LRN")
plt.xlabel("channel")
plt.ylabel("output")
plt.legend()
plt.show()
print("outputs of channels 5..9:", np.round(b[5:10], 3))

# %% [markdown]
# The strong channel 7 is itself reduced most, and it also suppresses its four neighbours (channels 5, 6, 8, 9)
# relative to the other quiet channels: "competition for big activities amongst neuron outputs computed using
# different kernels".
#
# ## 3. PyTorch and Caffe: $\alpha$ divided by $n$
#
# PyTorch's `torch.nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1.0)` and Caffe's `LRN` layer (`local_size`,
# `alpha`, `beta`, `k` defaulting to 1) compute
#
# $$ b^i = a^i \Big/ \Big(k + \frac{\alpha}{n} \sum_{j} (a^j)^2\Big)^{\beta}, $$
#
# the *mean* of the squares rather than the sum. So the paper's layer is PyTorch's
# `LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)`: multiply $\alpha$ by $n$, and set $k = 2$ explicitly.
# Caffe's published reference AlexNet kept `alpha: 0.0001` with `local_size: 5` and the default `k: 1`, a
# normalisation five times weaker than the paper's and with a different $k$. Both are written below, in NumPy:

# %%
def lrn_mean_form(a, size, alpha, beta, k):
    """PyTorch's and Caffe's definition: alpha multiplies the mean of the squares over the window."""
    channels = a.shape[1]
    padded = np.pad(a**2, ((0, 0), (size // 2, (size - 1) // 2), (0, 0), (0, 0)))
    mean = sum(padded[:, d:d + channels] for d in range(size)) / size   # zeros outside count, as in PyTorch
    return a / (k + alpha * mean) ** beta

a = np.maximum(rng.standard_normal((2, 12, 3, 3)) * 80, 0)
paper = F.local_response_norm(dev(a)).numpy()
print("PyTorch/Caffe with alpha = 5e-4, k = 2 equals the paper:", np.allclose(lrn_mean_form(a, 5, 5e-4, 0.75, 2.0), paper))
print("PyTorch's defaults (alpha = 1e-4, k = 1) equal the paper:", np.allclose(lrn_mean_form(a, 5, 1e-4, 0.75, 1.0), paper))
print("and in tinyalex's terms PyTorch's defaults are alpha = 2e-5, k = 1:",
      np.allclose(lrn_mean_form(a, 5, 1e-4, 0.75, 1.0), F.local_response_norm(dev(a), 5, 2e-5, 0.75, 1.0).numpy()))

# %% [markdown]
# Expected: `True`, `False`, `True`. With $k = 1$ instead of 2 the small-activation scale is $1$ instead of $0.595$,
# so the next layer sees inputs 1.68 times larger: harmless in a network trained that way, but loading weights
# trained with one convention into a network built with the other silently changes every activation after conv1.
#
# Two more details tinyalex follows: LRN comes **after** the ReLU (conv → ReLU → LRN → pool), and in the two-tower
# network each GPU normalises over its own kernel maps only (lesson 13).
#
# ## Exercises
#
# 1. Which tinyalex call reproduces Caffe's reference layer `LRN { local_size: 5 alpha: 0.0001 beta: 0.75 }` (with
#    Caffe's default `k: 1`)? Check it against `lrn_mean_form`.
# 2. For which uniform activity $a$ (the same in all five channels) does LRN with the paper's constants divide by
#    exactly twice its small-activation divisor $2^{0.75}$?
# 3. If PyTorch is installed, compare `torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)` with
#    `F.local_response_norm` on the array `a` above.

# %% [solution]
caffe = lrn_mean_form(a, 5, 1e-4, 0.75, 1.0)
print("1. F.local_response_norm(x, size=5, alpha=2e-5, beta=0.75, k=1.0):",
      np.allclose(F.local_response_norm(dev(a), 5, 2e-5, 0.75, 1.0).numpy(), caffe))

# (2 + 1e-4 * 5 a^2)^0.75 = 2 * 2^0.75  <=>  2 + 5e-4 a^2 = 2^(1/0.75) * 2  <=>  a^2 = (2^(4/3) * 2 - 2) / 5e-4
activity = np.sqrt((2 * 2 ** (4 / 3) - 2) / 5e-4)
ratio = (2 + 1e-4 * 5 * activity**2) ** 0.75 / 2**0.75
print(f"2. a = {activity:.1f} (the divisor grows by {ratio:.3f})")

try:
    import torch
    t = torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(torch.from_numpy(a)).numpy()
    print("3. torch agrees:", np.allclose(t, paper))
except ImportError:
    print("3. PyTorch is not installed here")
