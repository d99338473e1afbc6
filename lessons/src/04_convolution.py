# %% [markdown]
# # Lesson 4 — Convolution: loops, im2col, and the backward pass
#
# Five of AlexNet's eight layers are convolutions, and they do over 90% of its arithmetic. This lesson writes a
# convolution three ways and checks that they agree.
#
# **You will learn**
# - the convolution of a batch `(N, C, H, W)` with filters `(O, C, KH, KW)`, as a direct loop;
# - the output size $\lfloor (H + 2P - K)/S \rfloor + 1$, and why the paper's $224$ needs padding;
# - **im2col**: how unrolling the input windows into columns turns a convolution into one matrix product;
# - the backward pass: the weight gradient is another product, the input gradient goes back through **col2im**;
# - grouped convolution, the paper's "two towers", and how much faster im2col is than the loop.

# %%
DEVICE = "cpu"  # "gpu" runs the tinyalex parts on CuPy (the hand-written loops stay on NumPy)

import time

import matplotlib.pyplot as plt
import numpy as np

import tinyalex
from tinyalex import functional as F

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})
rng = np.random.default_rng(0)

def dev(a, requires_grad=False):
    """A tinyalex Tensor on DEVICE."""
    return tinyalex.Tensor(a, requires_grad=requires_grad).to(DEVICE)

# %% [markdown]
# ## 1. The definition, as a loop
#
# Output channel $o$ at position $(i, j)$ is a dot product between filter $o$ and the input window under it:
#
# $$ y_{n,o,i,j} = b_o + \sum_{c=0}^{C-1} \sum_{u=0}^{K_H-1} \sum_{v=0}^{K_W-1} w_{o,c,u,v}\; x_{n,c,\,S i + u - P,\; S j + v - P} $$
#
# with stride $S$, zero padding $P$ (inputs outside the image count as 0). Neural-network "convolution" is really
# cross-correlation: the filter is not flipped.

# %%
def conv_loop(x, w, b, stride=1, pad=0):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((n, o, oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]   # (N, C, KH, KW)
            y[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return y

x = rng.standard_normal((2, 3, 9, 9))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)
y_loop = conv_loop(x, w, b, stride=2, pad=1)
y_fast = F.conv2d(dev(x), dev(w), dev(b), stride=2, padding=1).numpy()
print(y_loop.shape, "equal to tinyalex's conv2d:", np.allclose(y_loop, y_fast, atol=1e-12))

# %% [markdown]
# ## 2. Output sizes, and the 224 puzzle
#
# Sliding a $K$-wide window by $S$ over $H + 2P$ pixels gives $\lfloor (H + 2P - K)/S \rfloor + 1$ positions
# (tinyalex rounds down, as PyTorch does; Caffe rounds up for pooling). The paper's conv1 has 96 filters of
# $11 \times 11$ with stride 4 on $224 \times 224$ crops and reports $55 \times 55$ outputs:

# %%
def output_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1

for size, pad in [(224, 0), (227, 0), (224, 2)]:
    print(f"input {size}, padding {pad}: conv1 output {output_size(size, 11, 4, pad)}")

# %% [markdown]
# Expected: `54`, `55`, `55`. The paper's numbers only work for 227-pixel inputs (which is what Caffe's reference
# model uses) or for 224 with 2 pixels of padding (torchvision's choice, and tinyalex's).
#
# ## 3. im2col: convolution as one matrix product
#
# The loop computes the same kind of dot product $O \cdot OH \cdot OW$ times. If we first copy every input window
# into a column of a matrix (**im2col**), all those dot products become one matrix product, which BLAS (or cuBLAS)
# does at nearly the machine's peak speed:
#
# $$ \underbrace{Y}_{O \times (OH\cdot OW)} = \underbrace{W}_{O \times (C K_H K_W)} \; \underbrace{\text{col}(x)}_{(C K_H K_W) \times (OH\cdot OW)} $$
#
# We fill the columns with one strided slice per kernel offset $(u, v)$: a loop over the $K_H K_W$ offsets, never
# over output pixels. Slice $(u, v)$ holds, for every output position, the input pixel at offset $(u, v)$ in its
# window. (tinyalex's `im2col` builds the same array from a strided *view* of the input and reuses its buffers
# between calls, but the idea is this.)

# %%
def im2col(x, kh, kw, stride=1, pad=0):
    """(N, C, H, W) -> columns (N, C, KH, KW, OH, OW)."""
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, stride, pad), output_size(w, kw, stride, pad)
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    col = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            col[:, :, u, v] = x[:, :, u:u + stride * oh:stride, v:v + stride * ow:stride]
    return col

# For one 1 x 4 x 4 image and a 3 x 3 kernel:
tiny = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
col = im2col(tiny, 3, 3)
print("columns shape:", col.shape)
print(col.reshape(9, 4))                         # row (u, v), column = output position

# %% [markdown]
# Expected: four columns, one per output position; the first is the top-left window `0 1 2 4 5 6 8 9 10`.
#
# The whole convolution is then a reshape, a matrix product and a reshape:

# %%
def conv_im2col(x, w, b, stride=1, pad=0):
    n = x.shape[0]
    o, c, kh, kw = w.shape
    col = im2col(x, kh, kw, stride, pad)                            # (N, C, KH, KW, OH, OW)
    oh, ow = col.shape[-2:]
    col = col.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n * oh * ow)   # one column per output pixel
    y = w.reshape(o, -1) @ col                                      # (O, N*OH*OW): the one product
    return y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3) + b.reshape(1, o, 1, 1)

print("im2col equals the loop:", np.allclose(conv_im2col(x, w, b, 2, 1), y_loop, atol=1e-12))

# %% [markdown]
# The price is memory: the columns hold every input pixel $K_H K_W / S^2$ times. For conv1 at batch 128 that is
# $128 \cdot 3 \cdot 121 \cdot 55 \cdot 55$ floats, about 0.5 GiB, kept until the backward pass.
#
# ## 4. The backward pass
#
# With $Y = W\,\text{col}$ and the upstream gradient $G = \partial L/\partial Y$, the rules of a matrix product give
#
# $$ \frac{\partial L}{\partial W} = \sum_n G_n \,\text{col}_n^{\top}, \qquad
#    \frac{\partial L}{\partial\, \text{col}} = W^{\top} G, \qquad
#    \frac{\partial L}{\partial b_o} = \sum_{n,i,j} G_{n,o,i,j}. $$
#
# $\partial L / \partial x$ is then obtained by sending each column entry back to the pixel it was copied from.
# A pixel copied into several windows receives the **sum** of their gradients: **col2im** is im2col's transpose,
# a loop over kernel offsets that *adds* slices back.

# %%
def col2im(col, x_shape, stride=1, pad=0):
    """Columns (N, C, KH, KW, OH, OW) -> (N, C, H, W), adding where windows overlap."""
    n, c, h, w = x_shape
    _, _, kh, kw, oh, ow = col.shape
    x = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=col.dtype)
    for u in range(kh):
        for v in range(kw):
            x[:, :, u:u + stride * oh:stride, v:v + stride * ow:stride] += col[:, :, u, v]
    return x[:, :, pad:pad + h, pad:pad + w]

def conv_backward(x, w, g, stride=1, pad=0):
    n = x.shape[0]
    o, c, kh, kw = w.shape
    oh, ow = g.shape[-2:]
    col = im2col(x, kh, kw, stride, pad).reshape(n, c * kh * kw, oh * ow)
    g = g.reshape(n, o, oh * ow)
    dw = (g @ col.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    dcol = w.reshape(o, -1).T @ g                                    # (N, C*KH*KW, OH*OW)
    dx = col2im(dcol.reshape(n, c, kh, kw, oh, ow), x.shape, stride, pad)
    db = g.sum(axis=(0, 2))
    return dx, dw, db

g = rng.standard_normal(y_loop.shape)
dx, dw, db = conv_backward(x, w, g, stride=2, pad=1)
tx, tw, tb = (dev(a, requires_grad=True) for a in (x, w, b))
F.conv2d(tx, tw, tb, stride=2, padding=1).backward(dev(g))
for name, ours, theirs in [("dx", dx, tx.grad), ("dw", dw, tw.grad), ("db", db, tb.grad)]:
    print(f"{name} equal to tinyalex's:", np.allclose(ours, tinyalex.to_cpu(theirs), atol=1e-12))
print(f"gradcheck of F.conv2d: {tinyalex.gradcheck(lambda x, w, b: F.conv2d(x, w, b, 2, 1), [x, w, b]):.1e}")

# %% [markdown]
# ## 5. What a filter does
#
# A filter responds where the image looks like it. A vertical-edge filter (Sobel) applied to a picture of a disc
# answers on the left and right edges, with opposite signs; its transpose answers on the top and bottom.

# %%
yy, xx = np.mgrid[0:32, 0:32]
picture = ((xx - 16) ** 2 + (yy - 16) ** 2 < 10**2).astype(np.float32)[None, None]
sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
filters = np.stack([sobel, sobel.T])[:, None]                       # (2, 1, 3, 3)
maps = F.conv2d(dev(picture), dev(filters), padding=1).numpy()
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.6))
for ax, img, title in zip(axes, [picture[0, 0], maps[0, 0], maps[0, 1]], ["input", "vertical edges", "horizontal edges"]):
    ax.imshow(img, cmap="gray" if title == "input" else "RdBu")
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 6. Grouped convolution: the two towers
#
# The paper split its network over two GPUs, and conv2, conv4 and conv5 only read the feature maps of their own
# GPU. That is a **grouped convolution** with $G = 2$: the $C$ input channels and $O$ filters split into two halves,
# each filter seeing only $C/2$ channels. The weight has shape $(O, C/G, K_H, K_W)$, so a grouped layer has $G$
# times fewer weights and multiply-adds. For conv2 ($96 \to 256$, $5 \times 5$):

# %%
for groups in (1, 2):
    layer = tinyalex.nn.Conv2d(96, 256, 5, padding=2, groups=groups)
    print(f"groups={groups}: weight {layer.weight.shape}, {layer.num_parameters():,} parameters")

# %% [markdown]
# Expected: `groups=1: weight (256, 96, 5, 5), 614,656 parameters` and `groups=2: weight (256, 48, 5, 5), 307,456
# parameters`. Lesson 13 shows numerically that a grouped convolution is exactly two half convolutions side by side.
#
# ## 7. How much faster is one matrix product?
#
# We time the loop and im2col on a small layer (8 images of $3 \times 32 \times 32$, 16 filters $5 \times 5$) and
# tinyalex's `conv2d`, the same im2col and product with the copies and buffers tuned.

# %%
def best_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)

x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
w = rng.standard_normal((16, 3, 5, 5)).astype(np.float32)
b = np.zeros(16, dtype=np.float32)
tx, tw, tb = dev(x), dev(w), dev(b)
timings = {
    "direct loop": best_time(lambda: conv_loop(x, w, b, 1, 2)),
    "im2col (ours)": best_time(lambda: conv_im2col(x, w, b, 1, 2)),
    "tinyalex conv2d": best_time(lambda: F.conv2d(tx, tw, tb, padding=2).numpy()),
}
for name, t in timings.items():
    print(f"{name:16s} {1e3 * t:7.2f} ms")
plt.barh(list(timings), [1e3 * t for t in timings.values()])
plt.xlabel("milliseconds (lower is better)")
plt.xscale("log")
plt.show()

# %% [markdown]
# The loop makes $32 \times 32$ Python iterations, each a small `tensordot`; im2col makes 25 slice copies and one
# product. The gap grows with the image size, and on a GPU it is larger still.
#
# ## Exercises
#
# 1. Compute the output size of every conv and pooling layer of AlexNet for a 224 input with conv1 padding 2:
#    conv1 11/4, pool 3/2, conv2 5/1 pad 2, pool 3/2, conv3-5 3/1 pad 1, pool 3/2. (The last should be 6.)
# 2. How many bytes do conv2's im2col columns take at batch 128 in float32 ($96 \to 256$, $5 \times 5$, groups 2,
#    $27 \times 27$ output)? Does grouping change it?
# 3. Compute `dx` of section 4 with the *loop* form: every window's gradient `np.tensordot(g[:, :, i, j], w, 1)`
#    added back into the padded input. Check it against `dx`.

# %% [solution]
s = output_size(224, 11, 4, 2)
sizes = [("conv1", s)]
for name, (k, st, p) in [("pool1", (3, 2, 0)), ("conv2", (5, 1, 2)), ("pool2", (3, 2, 0)), ("conv3", (3, 1, 1)),
                         ("conv4", (3, 1, 1)), ("conv5", (3, 1, 1)), ("pool5", (3, 2, 0))]:
    s = output_size(s, k, st, p)
    sizes.append((name, s))
print("1.", sizes)

columns = 128 * 96 * 5 * 5 * 27 * 27 * 4
print(f"2. {columns:,} bytes = {columns / 2**30:.2f} GiB; grouping does not change it: every input channel is"
      " still unrolled once, each group just multiplies its own half of the rows")

x = rng.standard_normal((2, 3, 9, 9))
w = rng.standard_normal((4, 3, 3, 3))
g = rng.standard_normal((2, 4, 5, 5))
dx_fast = conv_backward(x, w, g, stride=2, pad=1)[0]
dxp = np.zeros((2, 3, 11, 11))
for i in range(5):
    for j in range(5):
        dxp[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3] += np.tensordot(g[:, :, i, j], w, 1)
print("3. equal:", np.allclose(dxp[:, :, 1:-1, 1:-1], dx_fast, atol=1e-12))
