# %% [markdown]
# # Lesson 1 — Arrays, NCHW, NumPy and CuPy
#
# AlexNet is arithmetic on big arrays of numbers. Before any network, this lesson looks at those arrays.
#
# **You will learn**
# - how a batch of images is stored as an `(N, C, H, W)` array, and what the *strides* of that array are;
# - how to turn the `(H, W, C)` pictures that image libraries give you into `(N, C, H, W)` batches;
# - how tinyalex writes every computation once for both NumPy (CPU) and CuPy (GPU), with `get_array_module`;
# - how much memory the paper's batches take, and when a GPU pays off.
#
# Set `DEVICE = "gpu"` below to run the same cells on a CUDA GPU (it needs CuPy: `pip install cupy-cuda12x`).

# %%
DEVICE = "cpu"  # "gpu" runs the same code on CuPy arrays

import time

import matplotlib.pyplot as plt
import numpy as np

import tinyalex
from tinyalex import backend

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})
print("GPU available:", tinyalex.gpu_available())

# %% [markdown]
# ## 1. A batch of images is a 4-D array
#
# A colour image of height $H$ and width $W$ is $3 \times H \times W$ numbers. A *batch* of $N$ of them is one
# array of shape $(N, C, H, W)$, with $C = 3$ channels: **NCHW**, the layout of Caffe, cuda-convnet, PyTorch
# and tinyalex. Let us draw one small picture ourselves: a red disc on a green-to-blue gradient.

# %%
H = W = 32
y, x = np.mgrid[0:H, 0:W]
disc = (x - 20) ** 2 + (y - 12) ** 2 < 8 ** 2
image = np.stack([
    np.where(disc, 1.0, 0.1),         # red: the disc
    np.where(disc, 0.0, 1 - x / W),   # green: fades to the right
    np.where(disc, 0.0, x / W),       # blue: grows to the right
]).astype(np.float32)                 # (C, H, W)
batch = np.stack([image, image[:, ::-1]])  # two images: the second upside down
print(batch.shape, batch.dtype)

# %%
fig, axes = plt.subplots(1, 4, figsize=(8, 2.2))
axes[0].imshow(batch[0].transpose(1, 2, 0))   # matplotlib wants (H, W, C)
axes[0].set_title("batch[0]")
for c, name in enumerate(["R", "G", "B"]):
    axes[c + 1].imshow(batch[0, c], cmap="gray", vmin=0, vmax=1)
    axes[c + 1].set_title(f"batch[0, {c}] ({name})")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 2. Strides: how the numbers lie in memory
#
# The array is one flat run of memory. Its **strides** say how many bytes to skip to move by one along each axis.
# For a C-contiguous float32 $(N, C, H, W)$ array they are $(4CHW,\ 4HW,\ 4W,\ 4)$: neighbouring pixels of one
# channel are adjacent, and a whole channel plane comes before the next.

# %%
print("strides:", batch.strides)
print("expected:", (4 * 3 * H * W, 4 * H * W, 4 * W, 4))

# %% [markdown]
# Image files decode to $(H, W, C)$: the three colours of a pixel are adjacent ("channels last", **NHWC** for a
# batch). `transpose` only changes the strides, so it costs nothing, but the result is not contiguous any more;
# `np.ascontiguousarray` makes the copy that puts each channel plane back in one piece.

# %%
nhwc = batch.transpose(0, 2, 3, 1)
print("NHWC view:", nhwc.shape, nhwc.strides, "contiguous:", nhwc.flags["C_CONTIGUOUS"])
back = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
print("NCHW copy:", back.shape, back.strides, "contiguous:", back.flags["C_CONTIGUOUS"])
print("same numbers:", np.array_equal(back, batch))

# %% [markdown]
# ## 3. How big are the paper's arrays?
#
# The paper trains on batches of 128 crops of $224 \times 224$ pixels. In float32 (4 bytes) the input alone is

# %%
def mib(shape, itemsize=4):
    """Size in MiB of an array of this shape."""
    return int(np.prod(shape)) * itemsize / 2**20

print(f"input batch  128x3x224x224:  {mib((128, 3, 224, 224)):7.1f} MiB")
print(f"conv1 output 128x96x55x55:   {mib((128, 96, 55, 55)):7.1f} MiB")
print(f"fc6 weights  4096x9216:      {mib((4096, 9216)):7.1f} MiB")

# %% [markdown]
# Expected output:
# ```
# input batch  128x3x224x224:     73.5 MiB
# conv1 output 128x96x55x55:     141.8 MiB
# fc6 weights  4096x9216:        144.0 MiB
# ```
# Every layer's output is kept for the backward pass, which is why the paper's network did not fit on one 3 GB GPU.
#
# ## 4. One code path for NumPy and CuPy
#
# CuPy copies NumPy's interface for arrays that live on a GPU: `cupy.exp`, `cupy.matmul`, `x.sum(axis=1)` all
# exist. So an operation can be written once against a module `xp`, chosen by the arrays it receives.
# `tinyalex.get_array_module(*arrays)` returns `numpy` or `cupy`; it is the only place where tinyalex asks
# "CPU or GPU?" (and `tinyalex/backend.py` is the only file that imports CuPy).

# %%
def normalise(x):
    """Scale each image of a batch to zero mean and unit variance, on whichever device x lives."""
    xp = tinyalex.get_array_module(x)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = xp.sqrt(((x - mean) ** 2).mean(axis=(1, 2, 3), keepdims=True))
    return (x - mean) / std

x = backend.to_device(batch, DEVICE)     # a NumPy array on "cpu", a CuPy array on "gpu"
print(type(x).__module__, backend.device_of(x))
z = normalise(x)
print("means:", np.round(backend.to_cpu(z.mean(axis=(1, 2, 3))), 6))
print("stds: ", np.round(backend.to_cpu(z.std(axis=(1, 2, 3))), 6))

# %% [markdown]
# Tensors and layers move the same way: `tinyalex.Tensor(x).to("gpu")`, `model.to("gpu")`. An operation on a NumPy
# array and a CuPy array together is refused with a message naming the operation, instead of failing deep inside
# CuPy:

# %%
from tinyalex.backend import check_same_device

try:
    check_same_device("add", [np.zeros(3), backend.to_device(np.zeros(3), DEVICE)])
    print("same device: nothing to complain about")
except backend.DeviceError as error:
    print("DeviceError:", error)

# %% [markdown]
# ## 5. When does the GPU pay off?
#
# A GPU has thousands of arithmetic units but every call costs a launch (microseconds), and data must cross the
# PCIe bus (about 10–25 GB/s) to get there. It wins when there is a lot of arithmetic per call and per byte moved.
# The matrix product is the core of a network (lesson 4 turns convolution into one): an $n \times n$ product costs
# $2n^3$ floating-point operations on $3n^2$ numbers. We time it for growing $n$ and plot the rate achieved.

# %%
def seconds(fn, repeats=5):
    """Best wall time of several calls (after one warm-up), waiting for the GPU to finish."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        if DEVICE == "gpu":
            tinyalex.get_array_module(out).cuda.Device().synchronize()
        best = min(best, time.perf_counter() - start)
    return best

sizes = [32, 64, 128, 256, 512, 1024]
rates = []
for n in sizes:
    a = backend.to_device(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32), DEVICE)
    rates.append(2 * n**3 / seconds(lambda: a @ a) / 1e9)
plt.semilogx(sizes, rates, "o-", base=2)
plt.xlabel("n (an n x n times n x n product)")
plt.ylabel("GFLOP/s")
plt.title(f"matrix product on {DEVICE}")
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Small products are dominated by fixed costs; the rate climbs with $n$ until the hardware is saturated. On the
# 2-core CPU this project is measured on, NumPy reaches about 190–200 GFLOP/s for large float32 products; a
# current GPU reaches tens of TFLOP/s, but only for products big enough to fill it, and only if the data is
# already there. That is why a training loop copies each batch to the GPU once and keeps the model there.
#
# One training step of AlexNet costs about $3 \times 724$ million multiply-adds per image (forward, and twice that
# backward: lesson 10 counts them), so the CPU's arithmetic alone bounds it to a few dozen images per second.

# %% [markdown]
# ## Exercises
#
# 1. How many bytes does the output of conv2 (256 channels of $27 \times 27$) take for a batch of 128 in float32?
# 2. A loader gives you `images`, a uint8 array of shape `(N, H, W, 3)`. Write `to_nchw(images)` returning a
#    contiguous float32 `(N, 3, H, W)` array, and check it on `nhwc` above.
# 3. Write `relu(x)` with `get_array_module` so that it works unchanged on NumPy and CuPy arrays.
#
# The answers are in the collapsed cell below (click to expand).

# %% [solution]
print("1.", 128 * 256 * 27 * 27 * 4, "bytes =", mib((128, 256, 27, 27)), "MiB")

def to_nchw(images):
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)

print("2.", to_nchw(nhwc).shape, to_nchw(nhwc).flags["C_CONTIGUOUS"], np.array_equal(to_nchw(nhwc), batch))

def relu(x):
    xp = tinyalex.get_array_module(x)
    return xp.maximum(x, 0)

print("3.", relu(np.array([-1.0, 0.5])))
