# %% [markdown]
# # Lesson 7 — Overlapping max pooling
#
# A pooling layer summarises each neighbourhood of a feature map by its maximum. Traditional CNNs used windows that
# tile the map ($z \times z$ windows every $s = z$ pixels). AlexNet pools $3 \times 3$ windows every 2 pixels, so
# neighbouring windows **overlap** (Section 3.4), which lowered its error rates by 0.4% (top-1) and 0.3% (top-5) and
# made it "slightly more difficult to overfit".
#
# **You will learn**
# - max pooling as a loop, and tinyalex's version;
# - the output sizes of $3/2$ and $2/2$ pooling on AlexNet's maps (the same!), floor against ceil;
# - how the gradient is routed back: only to each window's maximum, added up where windows overlap.
#
# You write max pooling's forward and backward as loops (graded exercises 7.1 and 7.2).

# %%
DEVICE = "cpu"  # "gpu" runs the tinyalex calls on CuPy

import matplotlib.pyplot as plt
import numpy as np

import facts
import tinyalex
from grading import check
from tinyalex import functional as F

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})
rng = np.random.default_rng(0)

def dev(a, requires_grad=False):
    return tinyalex.Tensor(a, requires_grad=requires_grad, device=DEVICE)

# %% [markdown]
# ## 1. Max pooling as a loop
#
# $$ y_{n,c,i,j} = \max_{0 \le u, v < z}\; x_{n,c,\,s i + u,\; s j + v} $$

#
# **Exercise 7.1.** Write `max_pool_forward(x, z, s)`: the maximum of every $z \times z$ window, windows every $s$
# pixels, no padding, $\lfloor (H - z)/s \rfloor + 1$ outputs along each side. Loop over the output positions
# $(i, j)$ and take each window's maximum over all images and channels at once (`.max(axis=(2, 3))`).

# %%
def max_pool_forward(x, z, s):
    """(N, C, H, W) -> (N, C, OH, OW): y[:, :, i, j] = max of x[:, :, s*i : s*i + z, s*j : s*j + z]."""
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    oh, ow = (h - z) // s + 1, (w - z) // s + 1
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = x[:, :, s * i:s * i + z, s * j:s * j + z].max(axis=(2, 3))
    return y
    ### END SOLUTION

# %%
def pool_case(rng):
    """Distinct values (no ties), overlapping strided windows (AlexNet's 3/2 among them), a non-square map whose
    height the stride does not divide (so that rounding the output size down or up differs), and an upstream
    gradient."""
    z, s = [(3, 2), (4, 3), (5, 2)][int(rng.integers(3))]
    h = int(rng.choice([h for h in range(8, 13) if (h - z) % s]))
    w = int(rng.choice([w for w in range(7, 12) if w != h]))
    x = rng.permutation(2 * 3 * h * w).reshape(2, 3, h, w) / 10.0
    g = rng.standard_normal((2, 3, (h - z) // s + 1, (w - z) // s + 1))
    return dict(x=x, g=g, z=z, s=s)

check(max_pool_forward, lambda x, z, s: F.max_pool2d(x, z, s).numpy(),
      cases=lambda rng: {key: v for key, v in pool_case(rng).items() if key != "g"})

# %% [markdown]
# ## 2. Output sizes
#
# Both poolings use the sliding-window size $\lfloor (H - z)/s \rfloor + 1$. On AlexNet's three pooled maps they
# give *the same* sizes, which is why the paper could compare them in the same network:

# %%
def pooled(h, z, s, ceil=False):
    return -(-(h - z) // s) + 1 if ceil else (h - z) // s + 1

print(f"{'map':>4} {'3/2':>4} {'2/2':>4}")
for h in (55, 27, 13):
    print(f"{h:>4} {pooled(h, 3, 2):>4} {pooled(h, 2, 2):>4}")

# %% [markdown]
# Expected: the rows `55 27 27`, `27 13 13` and `13 6 6`: the same sizes for both. With 2/2 the odd last row and column of each map are never
# looked at; with 3/2 every pixel is, and the pixels on even rows or columns between two windows are seen twice.
#
# tinyalex, like PyTorch, rounds *down* (floor). Caffe rounds *up* (ceil), adding a partial window at the end; on
# these sizes the two agree, on others they do not (question 1).
#
# ## 3. Where the gradient goes
#
# The maximum is locally just a selection of one input, so its derivative is 1 for the input that held the maximum
# and 0 for the others. The backward pass sends each output's gradient to its window's *argmax*; an input that is
# the maximum of several overlapping windows receives the **sum** of their gradients. tinyalex remembers, for every
# output, which kernel offset held the maximum and adds the gradients back one offset at a time.
#
# Let us count, with an upstream gradient of 1 everywhere, how much gradient each input pixel of a random $9 \times 9$
# map receives:

# %%
x = rng.permutation(81).reshape(1, 1, 9, 9).astype(np.float64)      # distinct values: no ties
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
axes[0].imshow(x[0, 0], cmap="gray")
axes[0].set_title("input (9 x 9)")
for ax, (z, s) in zip(axes[1:], [(2, 2), (3, 2)]):
    t = dev(x, requires_grad=True)
    y = F.max_pool2d(t, z, s)
    y.backward(np.ones(y.shape))
    g = tinyalex.to_cpu(t.grad)[0, 0]
    ax.imshow(g, cmap="viridis", vmin=0, vmax=4)
    for (i, j), v in np.ndenumerate(g):
        if v:
            ax.text(j, i, int(v), ha="center", va="center", color="w" if v < 3 else "k")
    ax.set_title(f"pool {z}/{s}: {y.shape[2]}x{y.shape[3]} outputs\ngradient received (sum {int(g.sum())})")
for ax in axes:
    ax.axis("off")
plt.show()
values, pixels = np.unique(g[g > 0], return_counts=True)     # g: the 3/2 picture's gradient
print("3/2: units of gradient received -> number of pixels:", dict(zip(values.astype(int).tolist(), pixels.tolist())))
facts.record(outputs=int(g.sum()), most=int(values.max()),
             count_summary=", ".join(f"{n} pixel{'s' if n > 1 else ''} {'receive' if n > 1 else 'receives'}"
                                     f" {int(v)} unit{'s' if v > 1 else ''}" for v, n in zip(values, pixels)))

# %% [markdown]
# With 2/2 every one of the 16 windows sends its gradient to a different pixel (the last row and column get nothing).
# With 3/2 the windows share their border rows and columns: a pixel on a shared row or column lies in two windows,
# one at a shared corner in four, and it collects one unit of gradient for every window whose maximum it is: 1 to
# 4 units. In this picture {{count_summary}}, at most {{most}} (question 2 asks when a pixel can collect four). The
# gradient sum is still the number of outputs ({{outputs}}), spread over fewer pixels.
#
# **Exercise 7.2.** Write `max_pool_backward(x, g, z, s)`: $\partial L/\partial x$ given the upstream gradient `g`
# of shape $(N, C, OH, OW)$. For every output position find where its window's maximum lies (`argmax` of the window
# flattened to $z^2$ values, then `np.unravel_index`) and *add* `g[:, :, i, j]` there: with overlapping windows a
# pixel may be the maximum of several. The check compares with tinyalex's autograd, on distinct values so that
# every window has one maximum, and with overlapping windows.

# %%
def max_pool_backward(x, g, z, s):
    """dL/dx of max pooling: each g[:, :, i, j] added to the input that was its window's maximum."""
    ### BEGIN SOLUTION
    dx = np.zeros_like(x)
    n, c, oh, ow = g.shape
    images, channels = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, s * i:s * i + z, s * j:s * j + z].reshape(n, c, -1)
            u, v = np.unravel_index(window.argmax(axis=2), (z, z))
            np.add.at(dx, (images, channels, s * i + u, s * j + v), g[:, :, i, j])
    return dx
    ### END SOLUTION

# %%
def pool_backward_reference(x, g, z, s):
    t = tinyalex.Tensor(x, requires_grad=True)
    F.max_pool2d(t, z, s).backward(g)
    return t.grad

check(max_pool_backward, pool_backward_reference, cases=pool_case)

# %% [markdown]
# tinyalex remembers, for every output, which kernel offset held the maximum, and adds the gradients back one offset
# at a time (a loop over the $z^2$ offsets rather than over output positions). A gradient check confirms it
# (distinct values again, so that nudging an input by $10^{-6}$ never changes which input is the maximum):

# %%
x = rng.permutation(2 * 3 * 11 * 11).reshape(2, 3, 11, 11) / 7.0
print(f"gradcheck: {tinyalex.gradcheck(lambda a: F.max_pool2d(a, 3, 2), [x]):.1e}")

# %% [markdown]
# ## 4. What pooling does to a picture
#
# Pooling keeps the strongest response in each neighbourhood and shrinks the map. Applied to an image's brightness,
# 3/2 pooling halves the size (like 2/2) but each output summarises a larger, overlapping patch:

# %%
yy, xx = np.mgrid[0:55, 0:55]
picture = (np.sin(xx / 3.0) * np.cos(yy / 5.0) > 0.3).astype(np.float64)
picture += 0.3 * rng.standard_normal(picture.shape)
maps = {"input 55x55": picture,
        "pool 2/2: 27x27": F.max_pool2d(dev(picture[None, None]), 2, 2).numpy()[0, 0],
        "pool 3/2: 27x27": F.max_pool2d(dev(picture[None, None]), 3, 2).numpy()[0, 0]}
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, (title, m) in zip(axes, maps.items()):
    ax.imshow(m, cmap="gray")
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Questions
#
# 1. For which map sizes $h$ between 5 and 60 do floor and ceil rounding give different 3/2 pooling outputs? What
#    does Caffe's extra window cover?
# 2. In the 3/2 gradient picture, what is the largest number of windows one input pixel can be the maximum of, and
#    where must it lie?
# 3. How many multiply-adds does pooling cost? Count the comparisons of pool1 (96 maps, $55 \to 27$) per image,
#    and compare with conv1's 105 million multiply-adds.
#
# The answers are in the collapsed cell below.

# %% [solution]
differ = [h for h in range(5, 61) if pooled(h, 3, 2) != pooled(h, 3, 2, ceil=True)]
print("1. sizes:", differ)
print("   all even: (h - 3) is odd, so the last window would start at h - 2 and cover only 2 pixels (h-2, h-1).")
print("2. four: a pixel on an even row and an even column (counting from 0), not on the first or last of them,"
      " is shared by 2 x 2 windows, and wins all four when it is the largest of the 5 x 5 block they cover.")
print(f"3. pool1: 96 x 27 x 27 outputs x 8 comparisons = {96 * 27 * 27 * 8:,} per image,"
      f" about {96 * 27 * 27 * 8 / 105e6:.1%} of conv1's multiply-adds: pooling is cheap, convolution is not.")

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
