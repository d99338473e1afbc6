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
# **How the exercises work.** Each lesson has graded exercises: a function whose body says
# `raise NotImplementedError()` for you to replace, and a check cell right after it that runs your function on
# fresh random inputs against tinyalex (or a slow, obvious reference) and prints `PASS`, or `FAIL` with the
# relative error and the worst element, or `not done yet`. The cells after an exercise never use your function,
# so the lesson runs to the end whether you have written it or not.
#
# Set `DEVICE = "gpu"` below to run the same cells on a CUDA GPU (it needs CuPy: `pip install cupy-cuda12x`).

# %%
DEVICE = "cpu"  # "gpu" runs the same code on CuPy arrays

import time

import matplotlib.pyplot as plt
import numpy as np

import facts
import gpu_outputs
import tinyalex
from grading import check
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
# Element $(n, c, h, w)$ therefore starts $n s_0 + c s_1 + h s_2 + w s_3$ bytes after the first: this sum is how
# every library, and every GPU kernel (lesson 6 writes one), finds a pixel.
#
# **Exercise 1.1.** Write `c_strides(shape, itemsize)`: the strides, in bytes, of a C-contiguous array of that
# shape whose elements take `itemsize` bytes each. The last axis moves by one element; every other axis moves by
# the size of everything to its right.

# %%
def c_strides(shape, itemsize):
    """Byte strides of a C-contiguous array: a tuple with one entry per axis of `shape`."""
    ### BEGIN SOLUTION
    strides, step = [], itemsize
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))
    ### END SOLUTION

# %%
check(c_strides, reference=lambda shape, itemsize: np.empty(shape, dtype=f"V{itemsize}").strides,
      cases=lambda rng: dict(shape=tuple(int(n) for n in rng.integers(2, 7, size=rng.integers(2, 6))),
                             itemsize=int(rng.choice([1, 2, 4, 8]))))

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
# **Exercise 1.2.** A loader gives you `images`, a uint8 array of shape `(N, H, W, 3)` as decoded from JPEG files.
# Write `to_nchw(images)` returning the float32 `(N, 3, H, W)` batch a network takes, contiguous in memory. (A
# `reshape` to `(N, 3, H, W)` has the right shape and the wrong numbers: the check draws images that are not
# square, and looks at the dtype and the memory layout too.)

# %%
def to_nchw(images):
    """(N, H, W, 3) uint8 -> C-contiguous float32 (N, 3, H, W), the same pixel values."""
    ### BEGIN SOLUTION
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
    ### END SOLUTION

# %%
def nhwc_case(rng):
    """Two decoded images, never square (H and W differ)."""
    h, w = rng.choice(np.arange(3, 9), size=2, replace=False)
    return dict(images=rng.integers(0, 256, size=(2, h, w, 3), dtype=np.uint8))

check(to_nchw, reference=lambda images: np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32),
      cases=nhwc_case, strict=True)

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

sizes = [32, 64, 128, 256, 512, 1024, 2048]
rates = []
for n in sizes:
    a = backend.to_device(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32), DEVICE)
    rates.append(2 * n**3 / seconds(lambda: a @ a) / 1e9)
gpu = gpu_outputs.load()
fig, ax = plt.subplots()
ax.loglog(sizes, rates, "o-", base=2, label=f"{DEVICE}, measured here")
if gpu:
    ax.loglog(gpu["lesson1"]["sizes"], gpu["lesson1"]["gflops"], "s-", base=2,
              label=f"{gpu['device']} (saved {gpu['date']})")
ax.set(xlabel="n (an n x n times n x n product)", ylabel="GFLOP/s", title="float32 matrix product")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
peak = int(np.argmax(rates))
print(f"{DEVICE}: peak {rates[peak]:.0f} GFLOP/s at n = {sizes[peak]}; on {facts.machine()}")
if gpu:
    best = int(np.argmax(gpu["lesson1"]["gflops"]))
    print(f"GPU: peak {gpu['lesson1']['gflops'][best]:,.0f} GFLOP/s at n = {gpu['lesson1']['sizes'][best]}"
          f" on {gpu['device']} with {gpu['library']} (saved by lessons/gpu_outputs.py on {gpu['date']})")
else:
    print("no GPU measurement saved yet (lessons/gpu_outputs.py writes lessons/saved/gpu.json on a GPU machine)")
gflop_per_image = 2 * 3 * 724e6 / 1e9      # one training step of AlexNet, per image (lesson 10 counts it)
facts.record(measured=True, peak_gflops=rates[peak], peak_n=sizes[peak], largest_gflops=rates[-1],
             largest_n=sizes[-1], images_per_s_bound=rates[peak] / gflop_per_image, machine=facts.machine(),
             date=facts.today())

# %% [markdown]
# Small products are dominated by fixed costs; the rate climbs with $n$ until the arithmetic units are busy. When
# this notebook was built ({{date}}, {{machine}}, with one BLAS thread as `lessons/build.py` runs every lesson),
# the rate peaked at {{peak_gflops:.0f}} GFLOP/s at $n = {{peak_n}}$ and was {{largest_gflops:.0f}} GFLOP/s at
# $n = {{largest_n}}$: what one core of this CPU does. Rerun the cell and the numbers move, by a few percent on an
# idle machine and by much more on a busy one (this machine is shared): a timing is a measurement, not a constant,
# which is why the lessons print the machine and the date beside each. A current data-centre GPU is quoted at tens
# of TFLOP/s: NVIDIA's datasheet gives the H100 (SXM) 67 TFLOP/s in FP32 without its tensor cores, a peak figure
# of the vendor's, not measured here (the saved curve above shows what one GPU did, when there is one). It gets
# near that only for products big enough to fill it, and only if the data is already there. That is why a training loop copies each batch to the GPU once and
# keeps the model there.
#
# One training step of AlexNet costs about $3 \times 724$ million multiply-adds, $4.3$ GFLOP, per image (forward,
# and twice that backward: lesson 10 counts them), so at {{peak_gflops:.0f}} GFLOP/s the arithmetic alone allows
# at most {{images_per_s_bound:.0f}} images per second on this core.

# %% [markdown]
# ## Questions
#
# 1. How many bytes does the output of conv2 (256 channels of $27 \times 27$) take for a batch of 128 in float32?
# 2. Write `relu(x)` with `get_array_module` so that it works unchanged on NumPy and CuPy arrays.
# 3. Transposing costs nothing, but `np.ascontiguousarray` after it does: how many bytes does `to_nchw` copy for a
#    batch of 128 images of $256 \times 256$?
#
# The answers are in the collapsed cell below (click to expand).

# %% [solution]
print("1.", 128 * 256 * 27 * 27 * 4, "bytes =", mib((128, 256, 27, 27)), "MiB")

def relu(x):
    xp = tinyalex.get_array_module(x)
    return xp.maximum(x, 0)

print("2.", relu(np.array([-1.0, 0.5])))
print(f"3. it reads {128 * 256 * 256 * 3:,} bytes of uint8 and writes {128 * 256 * 256 * 3 * 4:,} bytes of float32:"
      f" {mib((128, 3, 256, 256)):.0f} MiB")

# %% [markdown]
# ## The numbers quoted in this lesson
#
# The text above quotes these numbers from this notebook's own output (`lessons/build.py` fills them in).

# %%
facts.show()
