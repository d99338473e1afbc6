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
# - its backward pass, derived by hand: the one gradient in AlexNet that is not a textbook formula;
# - how PyTorch's and Caffe's parameters map onto the paper's (they divide $\alpha$ by $n$; PyTorch defaults to $k = 1$);
# - how to write a GPU kernel of your own for its window sum, with CuPy.
#
# You write LRN's forward and backward as loops and the window sum as a CuPy kernel with its NumPy fallback (graded
# exercises 6.1 to 6.3).

# %%
DEVICE = "cpu"  # "gpu" runs the tinyalex calls on CuPy

import matplotlib.pyplot as plt
import numpy as np

import facts
import gpu_outputs
import tinyalex
from grading import check
from tinyalex import functional as F
from tinyalex.ops.local_response_norm import window_sum as library_window_sum

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
# kernel maps; it is a form of *lateral inhibition* borrowed from real neurons.
#
# **Exercise 6.1.** Translate the formula directly: `lrn_forward(a, n, k, alpha, beta)` for `a` of shape
# $(N, C, H, W)$, a loop over the channels $i$ that sums the squares of channels $\max(0, i - \lfloor n/2 \rfloor)$ to
# $\min(C - 1, i + \lfloor n/2 \rfloor)$, both included. The check uses odd $n$ and a large $\alpha$ (lesson 3: with the
# paper's $10^{-4}$, a window off by one channel changes the output too little to see).

# %%
def lrn_forward(a, n, k, alpha, beta):
    """b[:, i] = a[:, i] / (k + alpha * sum of a[:, j]^2 over the n channels around i) ** beta."""
    ### BEGIN SOLUTION
    b = np.empty_like(a)
    channels = a.shape[1]
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        s = (a[:, lo:hi + 1] ** 2).sum(axis=1)
        b[:, i] = a[:, i] / (k + alpha * s) ** beta
    return b
    ### END SOLUTION

# %%
def lrn_case(rng):
    """Activations, upstream gradient and constants with a large alpha, so that every term matters."""
    a = rng.standard_normal((2, int(rng.integers(6, 10)), 3, 4))
    return dict(a=a, g=rng.standard_normal(a.shape), n=int(rng.choice([3, 5, 7])), k=rng.uniform(1, 3),
                alpha=rng.uniform(0.2, 1.0), beta=rng.uniform(0.5, 1.0))

def lrn_reference(a, n, k, alpha, beta):
    return F.local_response_norm(a, size=n, alpha=alpha, beta=beta, k=k).numpy()

check(lrn_forward, lrn_reference, cases=lambda rng: {key: v for key, v in lrn_case(rng).items() if key != "g"})

# %% [markdown]
# tinyalex's version computes the windowed sum for all channels at once ($n$ shifted adds of channel slices, no loop
# over channels), works on a cache-sized chunk of images at a time, and raises to $-0.75$ with two square roots.
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
    facts.record(measured=True, **{f"ratio_low_{int(std * 100)}": ratio.min(), f"ratio_high_{int(std * 100)}": ratio.max(),
                                   f"ratio_median_{int(std * 100)}": np.median(ratio),
                                   f"largest_in_{int(std * 100)}": act.max(), f"largest_out_{int(std * 100)}": out.max()})
plt.show()

# %% [markdown]
# With the initial weights LRN is nearly the constant scale 0.595: half the units are scaled by more than
# {{ratio_median_1:.3f}}, and only the largest activations go down to {{ratio_low_1:.3f}}. With the larger weights the largest activations are divided much more than the small ones
# (the factor goes down to {{ratio_low_5:.3f}}), and the tail of the histogram is pulled in from
# {{largest_in_5:.0f}} to {{largest_out_5:.1f}}. There is a ceiling: for a unit alone in its window, $b = a / (k + \alpha a^2)^{\beta}$ is largest
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
factor = b / profile                                 # what LRN multiplied each channel by
plt.bar(np.arange(16) - 0.2, profile * 2 ** -0.75, width=0.4, label="a x 0.595 (no competition)")
plt.bar(np.arange(16) + 0.2, b, width=0.4, label="LRN")
plt.xlabel("channel")
plt.ylabel("output")
plt.legend()
plt.show()
print("factor b/a, channels 0..15:", np.round(factor, 3))
facts.record(strong_factor=factor[7], neighbour_factors=[factor[5], factor[6], factor[8], factor[9]],
             quiet_factor=factor[3], channel12_factor=factor[12], strong_loss=profile[7] - b[7],
             neighbour_loss=profile[6] - b[6])

# %% [markdown]
# Every channel whose window includes channel 7, channels 5 to 9, has the same sum of squares in its window
# ($200^2 + 4 \cdot 20^2$) and so the same divisor: all five are multiplied by {{strong_factor:.3f}}, the strong
# channel no more than its neighbours, against {{quiet_factor:.3f}} for quiet channels far from it (channel 3, say; and
# {{channel12_factor:.3f}} for channel 12). So the strong channel is not reduced *more* than its neighbours in
# proportion; it loses the most in absolute terms ({{strong_loss:.0f}} of its 200, against {{neighbour_loss:.1f}} for
# a neighbour of 20) and keeps its lead over them, while its four neighbours are suppressed relative to the quiet
# channels elsewhere: "competition for big activities amongst neuron outputs computed using different kernels". A
# quiet unit next to a loud one is damped; the loud one's advantage over it is unchanged.
#
# ## 3. The backward pass, by hand
#
# LRN is the one layer of AlexNet whose gradient is not a textbook formula, because each output depends on several
# inputs. Write $s_i = k + \alpha \sum_{j \in W(i)} a_j^2$ for the divisor's base, where $W(i)$ is channel $i$'s
# window, so that $b_i = a_i\, s_i^{-\beta}$ (at one position; positions and images are independent). Input $a_m$
# reaches the loss through $b_m$ itself, and through every $b_i$ whose window contains $m$:
#
# $$ \frac{\partial b_i}{\partial a_m} = [i = m]\, s_i^{-\beta} \;-\; \beta\, a_i\, s_i^{-\beta - 1} \cdot 2 \alpha a_m\, [m \in W(i)]. $$
#
# The first term comes from the numerator, the second from the denominator (the chain rule through $s_i^{-\beta}$,
# with $\partial s_i / \partial a_m = 2 \alpha a_m$ when $m$ is in the window). With $g_i = \partial L / \partial b_i$
# arriving from above, sum over $i$:
#
# $$ \frac{\partial L}{\partial a_m} = g_m\, s_m^{-\beta} \;-\; 2\alpha\beta\, a_m \sum_{i:\, m \in W(i)} g_i\, \frac{b_i}{s_i}, $$
#
# using $a_i s_i^{-\beta - 1} = b_i / s_i$. Last, which $i$ have $m$ in their window? For an odd $n$ the window is
# symmetric, $|i - m| \le \lfloor n/2 \rfloor$, so exactly the $i$ in $m$'s own window, clipped at the edges in the
# same way: the backward is a second window sum, of $g_i b_i / s_i$, around each channel $m$. (For an even $n$ the
# window is lopsided and the backward's window is its mirror image, which is how tinyalex writes it.) tinyalex's
# forward keeps $s^{-\beta}$ and $2\alpha\beta\, b/s$, and its backward costs one more window sum.
#
# **Exercise 6.2.** Write `lrn_backward(a, g, n, k, alpha, beta)`, $\partial L/\partial a$ by the formula, with
# loops over channels as in exercise 6.1: compute $s$ for every channel first, then for every $m$ the window sum of
# $g_i b_i / s_i$. The check compares with tinyalex's autograd, again with a large $\alpha$ so that the second term
# counts, and with other values of $\beta$ than $0.75$.

# %%
def lrn_backward(a, g, n, k, alpha, beta):
    """dL/da of LRN (odd n) for the upstream gradient g = dL/db; a and g of shape (N, C, H, W)."""
    ### BEGIN SOLUTION
    channels = a.shape[1]
    windows = [(max(0, i - n // 2), min(channels - 1, i + n // 2)) for i in range(channels)]
    s = np.stack([k + alpha * (a[:, lo:hi + 1] ** 2).sum(axis=1) for lo, hi in windows], axis=1)
    b = a * s**-beta
    q = g * b / s
    grad = np.empty_like(a)
    for m, (lo, hi) in enumerate(windows):
        grad[:, m] = g[:, m] * s[:, m] ** -beta - 2 * alpha * beta * a[:, m] * q[:, lo:hi + 1].sum(axis=1)
    return grad
    ### END SOLUTION

# %%
def lrn_backward_reference(a, g, n, k, alpha, beta):
    t = tinyalex.Tensor(a, requires_grad=True)
    F.local_response_norm(t, size=n, alpha=alpha, beta=beta, k=k).backward(g)
    return t.grad

check(lrn_backward, lrn_backward_reference, cases=lrn_case)

# %% [markdown]
# ## 4. LRN's window sum on a GPU: a kernel of your own
#
# Both passes of LRN are made of *window sums* over channels. tinyalex computes them with $n$ shifted whole-array
# adds, which NumPy and CuPy both run; on a GPU each add is a kernel launch and a full pass over memory. A kernel of
# our own can do the whole sum in one pass: one GPU thread per output element, each reading the $n$ inputs it needs.
#
# CuPy's `ElementwiseKernel` turns a few lines of CUDA C into such a kernel. Its arguments are declared as strings:
# `"raw T a, int32 channels, int32 plane, int32 before, int32 after"` for the inputs (`raw` means the kernel indexes
# `a` itself, not element by element; `T` is whatever float type `a` has), `"T s"` for the output. The body runs
# once per element of `s`, with `i` its flat index. Lesson 1's strides give the rest: in a contiguous $(N, C, H, W)$
# array, element $i$ lies in channel $c = \lfloor i / (HW) \rfloor \bmod C$, and the same pixel in channel $j$ is
# element $i + (j - c) \cdot HW$. The body loops over $j$ from $\max(c - \text{before}, 0)$ to
# $\min(c + \text{after}, C - 1)$ and adds up the squares. Call it as `kernel(a, C, H * W, before, after, s)` with
# `s = xp.empty_like(a)` and `a` contiguous (`xp.ascontiguousarray`).
#
# Without a GPU the kernel cannot run, so a program needs a fallback that gives the same numbers on the CPU: here the
# NumPy version with shifted slices, `s[:, d:] += a2[:, :-d]` for the channels below and `s[:, :-d] += a2[:, d:]` for
# those above (`a2` the squares), which is what tinyalex does on both devices.
#
# **Exercise 6.3.** Write both: `window_sum_gpu(a, before, after)` with an `ElementwiseKernel`, and
# `window_sum_cpu(a, before, after)` with NumPy; `window_sum` picks one by where `a` lives. Each returns
# $s_{:, c} = \sum_{j = c - \text{before}}^{c + \text{after}} a_{:, j}^2$, clipped at the first and last channel. The
# check always checks the NumPy version; it runs your kernel when this machine has CuPy and a GPU, and says so when
# it has not.

# %%
def window_sum_gpu(a, before, after):
    """The window sum of squares over channels, one CUDA thread per output element (a is a CuPy array)."""
    xp = tinyalex.get_array_module(a)
    ### BEGIN SOLUTION
    kernel = xp.ElementwiseKernel(
        "raw T a, int32 channels, int32 plane, int32 before, int32 after",
        "T s",
        """
        int c = (i / plane) % channels;
        T total = 0;
        for (int j = max(c - before, 0); j <= min(c + after, channels - 1); ++j) {
            T value = a[i + (j - c) * plane];
            total += value * value;
        }
        s = total;
        """,
        "lesson06_window_sum")
    a = xp.ascontiguousarray(a)
    s = xp.empty_like(a)
    kernel(a, a.shape[1], a.shape[2] * a.shape[3], before, after, s)
    return s
    ### END SOLUTION


def window_sum_cpu(a, before, after):
    """The same with NumPy: the fallback where there is no GPU."""
    ### BEGIN SOLUTION
    squares = a * a
    s = squares.copy()
    for d in range(1, before + 1):
        s[:, d:] += squares[:, :-d]
    for d in range(1, after + 1):
        s[:, :-d] += squares[:, d:]
    return s
    ### END SOLUTION


def window_sum(a, before, after):
    """Either, by where `a` lives."""
    return window_sum_gpu(a, before, after) if tinyalex.backend.is_cupy_array(a) else window_sum_cpu(a, before, after)

# %%
def window_case(rng):
    a = rng.standard_normal((2, int(rng.integers(6, 10)), 3, 4))
    before, after = (int(d) for d in rng.choice([1, 2, 3], size=2, replace=False))  # unequal: swapping them shows
    return dict(a=a, before=before, after=after)

def window_reference(a, before, after):
    return library_window_sum(a * a, before, after, out=np.empty_like(a))

check(window_sum_cpu, window_reference, cases=window_case)
check(window_sum_gpu, window_reference, cases=window_case, device="gpu")

# %% [markdown]
# On a GPU machine, `lessons/gpu_outputs.py` ran this check on the solution and timed the kernel against tinyalex's
# shifted adds on conv1's output at batch 128 (float32):

# %%
gpu = gpu_outputs.load()
if gpu:
    saved = gpu["lesson6"]
    print(f"saved on {gpu['date']}, {gpu['device']}, {gpu['library']}:")
    print(saved["check"])
    print(f"window sum of {saved['shape']}: the exercise's kernel {saved['kernel_ms']:.3f} ms,"
          f" tinyalex's shifted adds {saved['tinyalex_ms']:.3f} ms")
else:
    print("no GPU measurement saved yet (lessons/gpu_outputs.py writes lessons/saved/gpu.json on a GPU machine)")

# %% [markdown]
# tinyalex's own LRN on a GPU goes one step further and has no separate window sum at all. Its forward is one
# kernel, `lrn_forward` in `tinyalex/ops/local_response_norm.py`, beside the NumPy code: a thread per element sums the
# squares of its window in a register and writes $b^i$. Its backward, `lrn_backward`, recomputes the denominators
# from $x$ instead of keeping $r$ and $q$ from forward, which saves two activations of memory. Here is the forward,
# as the GPU compiles it (with `typedef float T;` in front). The tests run both kernels on the CPU, compiled by g++
# (`tests/cuda_emulator.py`), against the NumPy code above.

# %%
from tinyalex.ops import local_response_norm as lrn_op

print(lrn_op.FORWARD_KERNEL.strip())

# %% [markdown]
# ## 5. PyTorch and Caffe: $\alpha$ divided by $n$
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
# ## Questions
#
# 1. Which tinyalex call reproduces Caffe's reference layer `LRN { local_size: 5 alpha: 0.0001 beta: 0.75 }` (with
#    Caffe's default `k: 1`)? Check it against `lrn_mean_form`.
# 2. For which uniform activity $a$ (the same in all five channels) does LRN with the paper's constants divide by
#    exactly twice its small-activation divisor $2^{0.75}$?
# 3. If PyTorch is installed, compare `torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)` with
#    `F.local_response_norm` on the array `a` above.
#
# The answers are in the collapsed cell below.

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

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
