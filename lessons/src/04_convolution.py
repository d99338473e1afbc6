# %% [markdown]
# # Lesson 4 — Convolution: loops, im2col, and the backward pass
#
# Five of AlexNet's eight layers are convolutions, and they do over 90% of its arithmetic. This lesson writes a
# convolution three ways, derives its backward pass from the definition, and times the three.
#
# **You will learn**
# - the convolution of a batch `(N, C, H, W)` with filters `(O, C, KH, KW)`, as a direct loop;
# - the output size $\lfloor (H + 2P - K)/S \rfloor + 1$, and why the paper's $224$ needs padding;
# - **im2col**: how unrolling the input windows into columns turns a convolution into one matrix product;
# - the backward pass, derived index by index: the weight gradient is another product, the input gradient goes
#   back through **col2im**;
# - what filters do to a photograph, grouped convolution (the paper's "two towers"), and how much faster one
#   matrix product is than the loop.
#
# You write im2col, col2im and the convolution's backward (graded exercises 4.1 to 4.3).

# %%
DEVICE = "cpu"  # "gpu" runs the tinyalex parts on CuPy (the hand-written loops stay on NumPy)

import time

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import facts
import gpu_outputs
import tinyalex
from grading import check
from tinyalex import functional as F
from tinyalex.ops import im2col as library

# a photograph below: JPEG keeps the notebook small
%config InlineBackend.figure_formats = ["jpeg"]
plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})
rng = np.random.default_rng(0)

def dev(a, requires_grad=False):
    """A tinyalex Tensor on DEVICE."""
    return tinyalex.Tensor(a, requires_grad=requires_grad, device=DEVICE)

# %% [markdown]
# ## 1. The definition, as a loop
#
# Output channel $o$ at position $(i, j)$ is a dot product between filter $o$ and the input window under it:
#
# $$ y_{n,o,i,j} = b_o + \sum_{c=0}^{C-1} \sum_{u=0}^{K_H-1} \sum_{v=0}^{K_W-1} w_{o,c,u,v}\; \tilde x_{n,c,\,S i + u,\; S j + v} $$
#
# with stride $S$ and $\tilde x$ the input with $P$ rows and columns of zeros added around it (padding). Neural
# networks' "convolution" is really cross-correlation: the filter is not flipped. Here it is, one multiply-add at
# a time, exactly as written:

# %%
def conv_loop(x, w, b, stride=1, pad=0):
    """The definition, seven nested loops: slow, and obviously right."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((n, o, oh, ow), dtype=x.dtype)
    for image in range(n):
        for f in range(o):
            for i in range(oh):
                for j in range(ow):
                    total = b[f]
                    for ch in range(c):
                        for u in range(kh):
                            for v in range(kw):
                                total += w[f, ch, u, v] * padded[image, ch, stride * i + u, stride * j + v]
                    y[image, f, i, j] = total
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
# Here is what the columns hold for one $5 \times 5$ single-channel image and a $3 \times 3$ kernel with stride 1:
# nine windows, so nine columns of nine pixels each. Three of the windows are outlined on the left, and the same
# colours mark their columns on the right; the pixel in the middle (12) lies in all nine windows, so it is copied
# into all nine columns.

# %%
tiny = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
columns = np.array(library.im2col(tiny, (3, 3), (1, 1), (0, 0))).reshape(9, 9)   # row (u, v), column = window
shown = {0: "C0", 4: "C1", 8: "C3"}                                               # window -> colour
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [5, 9]})
left.imshow(tiny[0, 0], cmap="Greys", alpha=0.15)
for (r, c), value in np.ndenumerate(tiny[0, 0]):
    left.text(c, r, int(value), ha="center", va="center")
for k, colour in shown.items():
    i, j = divmod(k, 3)
    left.add_patch(plt.Rectangle((j - 0.45 + 0.05 * k / 4, i - 0.45 + 0.05 * k / 4), 2.8, 2.8, fill=False, lw=2.5, ec=colour))
left.set_title("input 5x5: windows 0, 4 and 8")
right.imshow(np.zeros_like(columns), cmap="Greys", vmin=0, vmax=1)
for (r, c), value in np.ndenumerate(columns):
    right.text(c, r, int(value), ha="center", va="center", color=shown.get(c, "k"), fontweight="bold" if c in shown else None)
right.set_xticks(range(9), [f"w{k}" for k in range(9)])
right.set_yticks(range(9), [f"u{u} v{v}" for u in range(3) for v in range(3)])
right.set_title("col: one column per window, one row per kernel offset (u, v)")
left.axis("off")
plt.show()

# %% [markdown]
# Read row $(u, v)$ of the columns: it is the input shifted by $(u, v)$ and sampled every $S$ pixels, the pixel at
# offset $(u, v)$ of every window. So im2col needs no loop over windows, only one slice per kernel offset:
#
# $$ \text{col}_{n, c, u, v, i, j} = \tilde x_{n, c,\, S i + u,\, S j + v}, \qquad
#    \text{col}[:, :, u, v] = \tilde x[:, :,\; u : u + S \cdot OH : S,\; v : v + S \cdot OW : S]. $$
#
# **Exercise 4.1.** Write `im2col(x, kh, kw, stride, pad)`: pad `x` (`np.pad`), then fill an array of shape
# `(N, C, KH, KW, OH, OW)` with one strided slice per kernel offset $(u, v)$, a loop over the $K_H K_W$ offsets and
# never over output pixels. The check compares with tinyalex's `im2col` on non-square images and kernels, strides 2
# and 3, and padding.

# %%
def im2col(x, kh, kw, stride, pad):
    """(N, C, H, W) -> columns (N, C, KH, KW, OH, OW): col[n, c, u, v, i, j] = padded x[n, c, S*i + u, S*j + v]."""
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    col = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            col[:, :, u, v] = padded[:, :, u:u + stride * oh:stride, v:v + stride * ow:stride]
    return col
    ### END SOLUTION

# %%
def conv_case(rng, trial=1):
    """A random convolution: input, filters and upstream gradient, non-square, its windows overlapping along at
    least one axis (the stride below the larger kernel side), so that pixels shared by two windows are tested.
    The first case of a check has stride 1 and no padding, the others are strided and padded."""
    n, c, o = rng.integers(2, 4, size=3)
    kh, kw = rng.choice([2, 3, 4, 5], size=2, replace=False)
    stride, pad = int(rng.integers(2, min(4, max(kh, kw)))), int(rng.integers(1, 3))
    if trial == 0:
        stride, pad = 1, 0
    h, w = rng.integers(kh + 3, 12), rng.integers(kw + 3, 12)
    oh, ow = library.output_size(h, kh, stride, pad), library.output_size(w, kw, stride, pad)
    return dict(x=rng.standard_normal((n, c, h, w)), w=rng.standard_normal((o, c, kh, kw)),
                g=rng.standard_normal((n, o, oh, ow)), stride=stride, pad=pad)

def im2col_case(rng, trial):
    case = conv_case(rng, trial)
    return dict(x=case["x"], kh=case["w"].shape[2], kw=case["w"].shape[3], stride=case["stride"], pad=case["pad"])

check(im2col, reference=lambda x, kh, kw, stride, pad: np.array(library.im2col(x, (kh, kw), (stride, stride), (pad, pad))),
      cases=im2col_case)

# %% [markdown]
# The whole convolution is then a reshape, a matrix product and a reshape. From here on the lesson uses tinyalex's
# `im2col`, which builds the same array from a strided *view* of the input (no loop at all) and reuses its buffers
# between calls:

# %%
def conv_im2col(x, w, b, stride=1, pad=0):
    n = x.shape[0]
    o, c, kh, kw = w.shape
    col = library.im2col(x, (kh, kw), (stride, stride), (pad, pad))   # (N, C, KH, KW, OH, OW)
    oh, ow = col.shape[-2:]
    col = col.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n * oh * ow)   # one column per output pixel
    y = w.reshape(o, -1) @ col                                                # (O, N*OH*OW): the one product
    return y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3) + b.reshape(1, o, 1, 1)

print("im2col equals the loop:", np.allclose(conv_im2col(x, w, b, 2, 1), y_loop, atol=1e-12))

# %% [markdown]
# The price is memory: the columns hold every input pixel $K_H K_W / S^2$ times. For conv1 at batch 128 that is
# $128 \cdot 3 \cdot 121 \cdot 55 \cdot 55$ floats, about 0.5 GiB.
#
# ## 4. The backward pass, from the definition
#
# Let $g_{n,o,i,j} = \partial L/\partial y_{n,o,i,j}$ be the gradient arriving from above. Differentiate the
# definition of section 1 one index at a time; every output that an input element reaches contributes to its
# gradient, so each derivative is a sum over those outputs.
#
# **The bias.** $b_o$ is added to every output of channel $o$, each with derivative 1:
#
# $$ \frac{\partial L}{\partial b_o} = \sum_{n,i,j} g_{n,o,i,j}. $$
#
# **The weights.** $w_{o,c,u,v}$ multiplies $\tilde x_{n,c,Si+u,Sj+v}$ in output $(n, o, i, j)$, for every image and
# position:
#
# $$ \frac{\partial L}{\partial w_{o,c,u,v}} = \sum_{n,i,j} g_{n,o,i,j}\; \tilde x_{n,c,\,Si+u,\,Sj+v}
#    = \sum_{n,i,j} g_{n,o,i,j}\; \text{col}_{n,c,u,v,i,j}. $$
#
# With the columns as a $(C K_H K_W) \times (OH \cdot OW)$ matrix per image and $G_n$ the $O \times (OH \cdot OW)$
# matrix of image $n$'s gradient, that is $\partial L/\partial W = \sum_n G_n \,\text{col}_n^{\top}$: a matrix
# product again, of the same size as the forward one.
#
# **The input.** A padded pixel $\tilde x_{n,c,p,q}$ appears in output $(n, o, i, j)$ once for each kernel offset
# $(u, v)$ with $Si + u = p$ and $Sj + v = q$, multiplied by $w_{o,c,u,v}$:
#
# $$ \frac{\partial L}{\partial \tilde x_{n,c,p,q}} = \sum_{\substack{u, v, i, j \\ Si+u = p,\; Sj+v = q}} \;
#    \underbrace{\sum_o w_{o,c,u,v}\, g_{n,o,i,j}}_{\text{dcol}_{n,c,u,v,i,j}}. $$
#
# The inner sum is the matrix product $\text{dcol}_n = W^{\top} G_n$, one number per column entry. The outer sum
# sends every entry of $\text{dcol}$ back to the pixel its column entry was copied from, $(Si + u, Sj + v)$, and adds
# up where a pixel was copied several times (it lies in several windows). That is **col2im**, the transpose of
# im2col: for each kernel offset $(u, v)$, *add* the slice $\text{dcol}[:, :, u, v]$ into
# $\tilde x[:, :,\; u : u + S \cdot OH : S,\; v : v + S \cdot OW : S]$. Finally $\partial L/\partial x$ is the middle
# of $\partial L/\partial \tilde x$, without the padding. (With stride 1 the same sum is a convolution of $g$ with
# the flipped filters, which is how it is often stated; the index form is what the code follows.)
#
# **Exercise 4.2.** Write `col2im(col, x_shape, stride, pad)`: columns `(N, C, KH, KW, OH, OW)` back to an array of
# `x_shape` = `(N, C, H, W)`, adding where windows overlap. Use a zero array of the padded size, add the slices
# with `+=`, and cut the padding off at the end.

# %%
def col2im(col, x_shape, stride, pad):
    """Columns (N, C, KH, KW, OH, OW) -> (N, C, H, W), each entry added to the pixel it came from."""
    ### BEGIN SOLUTION
    n, c, h, w = x_shape
    _, _, kh, kw, oh, ow = col.shape
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=col.dtype)
    for u in range(kh):
        for v in range(kw):
            padded[:, :, u:u + stride * oh:stride, v:v + stride * ow:stride] += col[:, :, u, v]
    return padded[:, :, pad:pad + h, pad:pad + w]
    ### END SOLUTION

# %%
def col2im_case(rng, trial):
    case = conv_case(rng, trial)
    (n, c, h, w), (_, _, kh, kw), oh, ow = case["x"].shape, case["w"].shape, *case["g"].shape[2:]
    return dict(col=rng.standard_normal((n, c, kh, kw, oh, ow)), x_shape=(n, c, h, w), stride=case["stride"],
                pad=case["pad"])

check(col2im, reference=lambda col, x_shape, stride, pad: library.col2im(col, x_shape, (stride, stride), (pad, pad)),
      cases=col2im_case)

# %% [markdown]
# **Exercise 4.3.** Write `conv_backward(x, w, g, stride, pad)` returning `(dx, dw, db)` for the convolution of
# section 1 with upstream gradient `g`: the three formulas above. Build the columns (your `im2col`, or tinyalex's
# `library.im2col(x, (kh, kw), (stride, stride), (pad, pad))`), make $\partial L/\partial W$ and
# $\text{dcol} = W^{\top} G$ with `np.tensordot` or reshapes and `@`, and send $\text{dcol}$ back with col2im. The
# check compares all three with tinyalex's autograd through `F.conv2d`.

# %%
def conv_backward(x, w, g, stride, pad):
    """Gradients of y = conv(x, w) + b: x (N, C, H, W), w (O, C, KH, KW), g (N, O, OH, OW) -> (dx, dw, db)."""
    ### BEGIN SOLUTION
    o, c, kh, kw = w.shape
    col = np.array(library.im2col(x, (kh, kw), (stride, stride), (pad, pad)))   # (N, C, KH, KW, OH, OW)
    dw = np.tensordot(g, col, axes=([0, 2, 3], [0, 4, 5]))                     # sum over n, i, j
    dcol = np.tensordot(w, g, axes=([0], [1]))                                 # (C, KH, KW, N, OH, OW)
    dx = library.col2im(dcol.transpose(3, 0, 1, 2, 4, 5), x.shape, (stride, stride), (pad, pad))
    return dx, dw, g.sum(axis=(0, 2, 3))
    ### END SOLUTION

# %%
def conv_reference(x, w, g, stride, pad):
    tx, tw, tb = (tinyalex.Tensor(a, requires_grad=True) for a in (x, w, np.zeros(len(w))))
    F.conv2d(tx, tw, tb, stride=stride, padding=pad).backward(g)
    return tx.grad, tw.grad, tb.grad

check(conv_backward, conv_reference, cases=conv_case)

# %% [markdown]
# tinyalex's `Conv2d.backward` is these three lines plus bookkeeping: it rebuilds the columns chunk by chunk instead
# of keeping half a GiB of them from the forward pass, and runs the two towers of a grouped convolution as one
# batched product. `tinyalex.gradcheck` confirms it numerically:

# %%
print(f"gradcheck of F.conv2d: {tinyalex.gradcheck(lambda x, w, b: F.conv2d(x, w, b, 2, 1), [x, w, b]):.1e}")

# %% [markdown]
# ## 5. What a filter does
#
# A filter responds where the image looks like it. The Sobel filter below is a vertical-edge detector: it
# subtracts the column of pixels on the right from the column on the left, so it answers where the brightness
# changes from left to right, with a sign that says which way. Its transpose answers to horizontal edges. On a
# photograph (Chelsea the cat, public domain, see `lessons/photos/README.md`), converted to grey:

# %%
photo = np.asarray(Image.open("photos/cat.jpg").convert("L"), dtype=np.float32) / 255
sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
filters = np.stack([sobel, sobel.T])[:, None]                       # (2, 1, 3, 3)
maps = F.conv2d(dev(photo[None, None]), dev(filters), padding=1).numpy()
limit = np.abs(maps).max() / 2
fig, axes = plt.subplots(1, 3, figsize=(10, 2.6))
for ax, img, title in zip(axes, [photo, maps[0, 0], maps[0, 1]], ["input", "vertical edges", "horizontal edges"]):
    ax.imshow(img, cmap="gray") if title == "input" else ax.imshow(img, cmap="RdBu", vmin=-limit, vmax=limit)
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# The whiskers and the stripes of the fur are nearly horizontal, so they light up the second map and hardly the
# first; the vertical edges of the ears and of the eyes' outlines do the opposite. Red and blue are the two signs:
# dark-to-light against light-to-dark. AlexNet's first layer learns 96 filters like these, and colour ones
# (lesson 12 looks at them).
#
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
# We time four versions of the same layer: the seven loops of section 1; a loop over output pixels only, each pixel
# one `np.tensordot` over its window (the inner three loops done by NumPy); im2col and one matrix product
# (section 3); and tinyalex's `conv2d`, the same im2col and product with the channels innermost in its columns
# (`im2col_nhwc`: longer contiguous copies), its chunks spread over the cores and its buffers reused. The
# Python loop is so slow that it gets a smaller layer (one image of $3 \times 16 \times 16$, 8 filters of
# $5 \times 5$), so we compare rates: multiply-adds per second.

# %%
def best_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)

def conv_pixel_loop(x, w, b, stride=1, pad=0):
    """One np.tensordot per output pixel: the loops over channels and the kernel done by NumPy."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = output_size(h, kh, stride, pad), output_size(wd, kw, stride, pad)
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.empty((n, o, oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            window = padded[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]   # (N, C, KH, KW)
            y[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return y

layers = {"small": ((1, 3, 16, 16), (8, 3, 5, 5)), "larger": ((8, 3, 32, 32), (16, 3, 5, 5))}
versions = {"seven loops": conv_loop, "loop over pixels": conv_pixel_loop, "im2col + one product": conv_im2col,
            "tinyalex conv2d": lambda x, w, b, stride, pad: F.conv2d(dev(x), dev(w), dev(b), stride, pad).numpy()}
rates = {}
for layer, (x_shape, w_shape) in layers.items():
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = np.zeros(w_shape[0], dtype=np.float32)
    macs = x_shape[0] * w_shape[0] * x_shape[2] * x_shape[3] * np.prod(w_shape[1:])   # stride 1, padding 2
    for name, conv in versions.items():
        if name == "seven loops" and layer == "larger":
            continue                                                                  # minutes: skipped
        seconds = best_time(lambda: conv(x, w, b, stride=1, pad=2), repeats=1 if name == "seven loops" else 3)
        rates[layer, name] = macs / seconds
        print(f"{layer:6s} {name:21s} {1e3 * seconds:9.2f} ms  {macs / seconds / 1e6:10.1f} million multiply-adds/s")

conv1 = (16, 3, 224, 224), (96, 3, 11, 11)
images = rng.standard_normal(conv1[0]).astype(np.float32)
filters = (0.01 * rng.standard_normal(conv1[1])).astype(np.float32)
conv1_seconds = best_time(lambda: F.conv2d(dev(images), dev(filters), stride=4, padding=2).numpy())
print(f"conv1 of the paper, batch 16, tinyalex: {1e3 * conv1_seconds:.0f} ms, {16 / conv1_seconds:.0f} images/s")
speedup = {layer: rates[layer, "tinyalex conv2d"] / rates[layer, first]
           for layer, first in [("small", "seven loops"), ("larger", "loop over pixels")]}
facts.record(measured=True, loop_rate=rates["small", "seven loops"] / 1e6,
             pixel_rate=rates["larger", "loop over pixels"] / 1e6, product_rate=rates["larger", "im2col + one product"] / 1e6,
             tinyalex_rate=rates["larger", "tinyalex conv2d"] / 1e6, speedup_small=speedup["small"],
             speedup_larger=speedup["larger"], conv1_images_per_s=16 / conv1_seconds,
             tinyalex_gain=rates["larger", "tinyalex conv2d"] / rates["small", "tinyalex conv2d"],
             machine=facts.machine(), date=facts.today())

# %%
gpu = gpu_outputs.load()
fig, ax = plt.subplots(figsize=(7, 3.4))
labels = [f"{layer}: {name}" for layer, name in rates]
rows = np.arange(len(labels))
ax.barh(rows, [r / 1e6 for r in rates.values()], height=0.4, label=f"this run ({DEVICE})")
if gpu:
    larger = 8 * 16 * 32 * 32 * 75                          # the larger layer's multiply-adds
    on_gpu = {f"larger: {name}": larger / t / 1e6 for name, t in gpu["lesson4"]["seconds"].items() if "conv1" not in name}
    ax.barh([labels.index(label) + 0.4 for label in on_gpu], list(on_gpu.values()), height=0.4,
            label=f"{gpu['device']} (saved {gpu['date']})")
    batch = gpu["lesson4"]["conv1_batch"]
    print(f"GPU, saved by lessons/gpu_outputs.py on {gpu['date']} ({gpu['device']}, {gpu['library']}):")
    for name, seconds in gpu["lesson4"]["seconds"].items():
        print(f"  {name:24s} {1e3 * seconds:9.3f} ms")
    print(f"  conv1 of the paper at batch {batch}: {batch / gpu['lesson4']['seconds'][f'conv1, batch {batch}']:,.0f} images/s")
else:
    print("no GPU measurement saved yet (lessons/gpu_outputs.py writes lessons/saved/gpu.json on a GPU machine)")
ax.set_yticks(rows + 0.2, labels)
ax.invert_yaxis()
ax.set(xscale="log", xlabel="million multiply-adds per second (higher is better)")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=8)
plt.show()

# %% [markdown]
# When this notebook was built ({{date}}, {{machine}}, one BLAS thread and one op thread, as `lessons/build.py`
# runs every lesson), the seven Python loops managed
# {{loop_rate:.1f}} million multiply-adds per second: each one is several interpreted Python operations. The loop over
# pixels hands the inner three loops to NumPy and reaches {{pixel_rate:.0f}} million on the larger layer, but
# still makes $32 \times 32$ small calls. One matrix product after im2col reaches {{product_rate:.0f}} million, and
# tinyalex {{tinyalex_rate:.0f}} million (the same work with more bookkeeping, which costs a little on layers this
# small): {{speedup_small:,.0f}} times the seven loops on the small layer, and {{speedup_larger:.0f}} times the loop
# over pixels on the larger one (two speed-ups against two different loops). The product itself needs work to be fast: tinyalex gets {{tinyalex_gain:.1f}} times as many multiply-adds per second out
# of the larger layer as out of the small one, where each call's fixed costs weigh more. The paper's
# conv1 runs at {{conv1_images_per_s:.0f}} images per second at batch 16 here. A GPU widens it again (the saved
# bars, when there are some): thousands of arithmetic units, which only the one big product can keep busy.
#
# ## Questions
#
# 1. Compute the output size of every conv and pooling layer of AlexNet for a 224 input with conv1 padding 2:
#    conv1 11/4, pool 3/2, conv2 5/1 pad 2, pool 3/2, conv3-5 3/1 pad 1, pool 3/2. (The last should be 6.)
# 2. How many bytes do conv2's im2col columns take at batch 128 in float32 ($96 \to 256$, $5 \times 5$, groups 2,
#    $27 \times 27$ output)? Does grouping change it?
#
# The answers are in the collapsed cell below.

# %% [solution]
s = output_size(224, 11, 4, 2)
sizes = [("conv1", s)]
for name, (k, st, p) in [("pool1", (3, 2, 0)), ("conv2", (5, 1, 2)), ("pool2", (3, 2, 0)), ("conv3", (3, 1, 1)),
                         ("conv4", (3, 1, 1)), ("conv5", (3, 1, 1)), ("pool5", (3, 2, 0))]:
    s = output_size(s, k, st, p)
    sizes.append((name, s))
print("1.", sizes)

column_bytes = 128 * 96 * 5 * 5 * 27 * 27 * 4
print(f"2. {column_bytes:,} bytes = {column_bytes / 2**30:.2f} GiB; grouping does not change it: every input channel"
      " is still unrolled once, each group just multiplies its own half of the rows")

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
