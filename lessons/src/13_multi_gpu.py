# %% [markdown]
# # Lesson 13 — Two GPUs: how the paper split the network, and how tinyalex runs the towers
#
# In 2012 a GTX 580 had 3 GB of memory, too little for AlexNet's training. So the paper spread the network over two
# GPUs (Section 3.2): "half of the kernels (or neurons) on each GPU, with one additional trick: the GPUs communicate
# only in certain layers." This lesson takes that split apart. It runs on the CPU: both towers can live on one
# device, and the arithmetic is the same.
#
# **You will learn**
# - which layers of AlexNet read both GPUs and which only their own (Figure 2), and what that does to the
#   parameter count (60,965,224 rather than 62,378,344);
# - that a convolution with `groups=2` *is* two half convolutions side by side, numerically;
# - how `tinyalex.parallel.TowerParallelAlexNet` places the towers on devices and where activations cross;
# - how much data crosses per image, compared with what data parallelism would send.
#
# You write a grouped convolution as separate half convolutions, and the per-tower LRN (graded exercises 13.1 and
# 13.2).

# %%
DEVICES = ("cpu", "cpu")  # where the two towers live; (0, 1) puts them on GPU 0 and GPU 1, as in the paper

import matplotlib.pyplot as plt
import numpy as np

import facts
import tinyalex
from grading import check
from tinyalex import functional as F
from tinyalex import nn
from tinyalex.models import AlexNet, alexnet_small, layer_table
from tinyalex.parallel import TowerParallelAlexNet

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The split (Figure 2)
#
# Every layer up to fc7 is cut in half: 48 of conv1's 96 kernels on each GPU, 128 of conv2's 256, ..., 2048 of fc6's
# 4096 units. The halves of **conv2, conv4 and conv5** read only the maps of their own GPU. **conv3, fc6 and fc7**
# read the maps of both, and so does **fc8**, so before each of them the GPUs exchange activations. That is what the
# paper's Figure 2 draws, with one exception: it draws fc8 as a single layer of 1000 units reading both halves of fc7,
# and the text does not say how its work was shared between the GPUs. (tinyalex's towers, below, split it 500 + 500
# like the other layers.)

# %%
layers = [("conv1", 48), ("conv2", 128), ("conv3", 192), ("conv4", 192), ("conv5", 128),
          ("fc6", 2048), ("fc7", 2048)]
crosses = {"conv3", "fc6", "fc7"}
fig, ax = plt.subplots(figsize=(5.5, 5.6))
row = len(layers)                                       # fc8: one layer of 1000 reading both halves of fc7
ax.add_patch(plt.Rectangle((-0.6, -row - 0.3), 3.2, 0.6, color="gray", alpha=0.35))
ax.text(1, -row, "fc8\n1000", ha="center", va="center", fontsize=9)
for gpu in (0, 1):
    ax.annotate("", (1 + 0.5 * (gpu * 2 - 1), -row + 0.3), (gpu * 2, -row + 0.7), arrowprops=dict(arrowstyle="->", color="k"))
for row, (name, half) in enumerate(layers):
    for gpu in (0, 1):
        ax.add_patch(plt.Rectangle((gpu * 2 - 0.6, -row - 0.3), 1.2, 0.6, color=f"C{gpu}", alpha=0.35))
        ax.text(gpu * 2, -row, f"{name}\n{half}", ha="center", va="center", fontsize=9)
        if row:
            sources = (0, 1) if name in crosses else (gpu,)
            for src in sources:
                ax.annotate("", (gpu * 2, -row + 0.3), (src * 2, -row + 0.7),
                            arrowprops=dict(arrowstyle="->", color="k" if src == gpu else "crimson"))
ax.text(0, 0.7, "GPU 0", ha="center", fontsize=11)
ax.text(2, 0.7, "GPU 1", ha="center", fontsize=11)
ax.set(xlim=(-1, 3), ylim=(-len(layers) - 0.6, 1.1))
ax.axis("off")
plt.show()

# %% [markdown]
# Red arrows are the crossings, where a layer on one GPU reads the other GPU's half. fc8, drawn across both GPUs
# because the paper does not say where it ran, reads both halves of fc7 (its two arrows are black). Each tower also has its own ReLUs, pooling, and response normalisation over its own
# maps (Section 3.3's sum over "adjacent kernel maps" never reaches across to the other GPU).
#
# ## 2. Fewer parameters
#
# A layer that reads only its own tower's half of the input channels has half the weights. In tinyalex the towers
# are `groups=2` in conv2, conv4 and conv5 (the weight is `(out, in/2, k, k)`):

# %%
grouped, single = AlexNet(towers=2), AlexNet(towers=1)
print(f"{'layer':6s} {'groups=2 (paper)':>17s} {'groups=1':>12s}")
for (name, a), (_, b) in zip(grouped.named_children(), single.named_children()):
    if a.num_parameters():
        print(f"{name:6s} {a.num_parameters():17,} {b.num_parameters():12,}")
print(f"{'total':6s} {grouped.num_parameters():17,} {single.num_parameters():12,}")

# %% [markdown]
# Expected totals: **60,965,224** with the towers, 62,378,344 without. The paper calls its net "60 million
# parameters". It also reports that the two-tower scheme *reduced* the error rates, by 1.7% (top-1) and 1.2% (top-5),
# compared with a one-GPU net with half as many kernels in each convolutional layer.
#
# ## 3. A grouped convolution is two half convolutions
#
# Let us check it on conv2's shape ($96 \to 256$, $5 \times 5$, padding 2) with a few small images: split the input
# channels and the filters in halves, convolve each half with its own filters, and put the outputs side by side.

# %%
x = rng.standard_normal((2, 96, 13, 13)).astype(np.float32)
w = (0.01 * rng.standard_normal((256, 48, 5, 5))).astype(np.float32)
b = rng.standard_normal(256).astype(np.float32)
together = F.conv2d(x, w, b, padding=2, groups=2).numpy()
halves = [F.conv2d(x[:, 48 * t:48 * (t + 1)], w[128 * t:128 * (t + 1)], b[128 * t:128 * (t + 1)], padding=2).numpy()
          for t in (0, 1)]
side_by_side = np.concatenate(halves, axis=1)
print("shapes:", together.shape, "=", halves[0].shape, "+", halves[1].shape)
print("equal:", np.allclose(together, side_by_side, rtol=1e-5, atol=1e-6))

# %% [markdown]
# **Exercise 13.1.** Write `grouped_conv(x, w, b, groups, pad)` with `F.conv2d` *without* its `groups` argument:
# split the input channels, the filters and the biases into `groups` consecutive blocks, convolve each block of
# channels with its own block of filters, and concatenate the outputs along the channels. Return a NumPy array
# (`.numpy()`). The check compares with `F.conv2d(x, w, b, padding=pad, groups=groups)`.

# %%
def grouped_conv(x, w, b, groups, pad):
    """A grouped convolution as `groups` ordinary ones: x (N, C, H, W), w (O, C // groups, k, k), b (O,)."""
    ### BEGIN SOLUTION
    c, o = x.shape[1] // groups, w.shape[0] // groups
    outputs = [F.conv2d(x[:, t * c:(t + 1) * c], w[t * o:(t + 1) * o], b[t * o:(t + 1) * o], padding=pad).numpy()
               for t in range(groups)]
    return np.concatenate(outputs, axis=1)
    ### END SOLUTION

# %%
def grouped_case(rng):
    """Two to four groups of 2 or 3 input channels each (with one channel per group, every groups-th channel is
    the same as a group's block, and a mix-up of the two would pass)."""
    groups = int(rng.choice([2, 3, 4]))
    c, o = groups * int(rng.integers(2, 4)), groups * int(rng.integers(1, 4))
    return dict(x=rng.standard_normal((2, c, 7, 6)), w=rng.standard_normal((o, c // groups, 3, 3)), b=rng.standard_normal(o),
                groups=groups, pad=int(rng.integers(0, 2)))

check(grouped_conv, lambda x, w, b, groups, pad: F.conv2d(x, w, b, padding=pad, groups=groups).numpy(), cases=grouped_case)

# %% [markdown]
# And the converse: tower 0's outputs do not depend on tower 1's inputs at all. Changing the second half of the
# input channels leaves the first 128 output maps untouched:

# %%
x2 = x.copy()
x2[:, 48:] = rng.standard_normal(x2[:, 48:].shape)
changed = F.conv2d(x2, w, b, padding=2, groups=2).numpy()
print("tower 0 unchanged:", np.array_equal(changed[:, :128], together[:, :128]),
      "| tower 1 changed:", not np.allclose(changed[:, 128:], together[:, 128:]))

# %% [markdown]
# ## 4. tinyalex's towers on devices
#
# `TowerParallelAlexNet.from_alexnet(model, devices)` takes a grouped AlexNet and builds two towers: tower $t$
# holds output block $t$ of every conv and fc layer (rows $t \cdot C/2 \ldots (t+1) \cdot C/2$ of the weights), on
# `devices[t]`. The forward pass runs each tower's layers on its device, and before conv3, fc6, fc7 and fc8 gathers
# both halves on the first device and copies the whole to the other. Gradients flow back along the same
# crossings. With `("cpu", "cpu")` both towers run here, one after the other; with `(0, 1)` on two GPUs.
#
# We use the CPU-sized AlexNet (`alexnet_small`: a quarter of the channels, 64-pixel inputs) and compare with the
# grouped model on the same weights:

# %%
model = alexnet_small(seed=0).eval()
towers = TowerParallelAlexNet.from_alexnet(alexnet_small(seed=0), DEVICES).eval()
images = (50 * rng.standard_normal((4, 3, 64, 64))).astype(np.float32)
with tinyalex.no_grad():
    a = model(images).numpy()
    z = tinyalex.to_cpu(towers(images).data)
difference = np.abs(z - a).max() / np.abs(a).max()
print("towers on", towers.devices, "| logits", z.shape)
print(f"largest relative difference from the grouped model: {difference:.1e}")
facts.record(measured=True, agreement="exactly: not one bit differs" if difference == 0 else
             f"to float32 rounding: the largest relative difference is {difference:.1e}")
print("checkpoints use the grouped model's names and shapes:", towers.state_dict().keys() == model.state_dict().keys())

# %% [markdown]
# The two agree {{agreement}}. The towers compute exactly the grouped model's products, each tower its own output
# block; on one device even the order of every addition is the same. On two GPUs, or with another matrix-product
# library, the sums could be added in another order and differ at the level of float32's rounding, $10^{-7}$ of
# their size. One detail makes this agreement possible.
# Each of the paper's GPUs normalised (LRN, lesson 6) over its own maps only, so the grouped `AlexNet` normalises each
# tower's half of the channels on its own too (`LocalResponseNorm(groups=2)` after conv1 and conv2). With one window
# over all channels, the two channels on either side of the tower boundary would reach into the other tower, and the
# single-device model would no longer be the paper's two-GPU network (question 2 below measures by how much).
#
# **Exercise 13.2.** Write `lrn_per_tower(a, towers, alpha)`: the paper's LRN (`F.local_response_norm` with `size=5`,
# `k=2`, `beta=0.75` and the given `alpha`) applied to each tower's block of channels on its own, the blocks put back
# side by side. The check compares with tinyalex's `nn.LocalResponseNorm(alpha=alpha, groups=towers)`, with a large
# $\alpha$ so that the tower boundary matters.

# %%
def lrn_per_tower(a, towers, alpha):
    """LRN over each tower's channels separately: a (N, C, H, W) with C a multiple of towers."""
    ### BEGIN SOLUTION
    c = a.shape[1] // towers
    parts = [F.local_response_norm(a[:, t * c:(t + 1) * c], size=5, alpha=alpha, beta=0.75, k=2.0).numpy()
             for t in range(towers)]
    return np.concatenate(parts, axis=1)
    ### END SOLUTION

# %%
check(lrn_per_tower, lambda a, towers, alpha: nn.LocalResponseNorm(alpha=alpha, groups=towers)(a).numpy(),
      cases=lambda rng: dict(a=rng.standard_normal((2, 12, 3, 3)), towers=int(rng.choice([2, 3])), alpha=rng.uniform(0.3, 1)))

# %% [markdown]
# ## 5. What crosses, and what data parallelism would send
#
# At each crossing, each GPU needs the other's half of the activations: per image, half of pool2's, pool5's, fc6's
# and fc7's outputs travel each way, forward, and as many gradients come back in the backward pass.

# %%
table = {row.name: row for row in layer_table(grouped)}
crossing = {"pool2 -> conv3": table["pool2"], "pool5 -> fc6": table["pool5"], "fc6 -> fc7": table["act6"],
            "fc7 -> fc8": table["act7"]}
per_image = 0
for label, row in crossing.items():
    floats = int(np.prod(row.output_shape)) // 2
    per_image += floats
    print(f"{label:15s} {str(row.output_shape):16s} each GPU sends {floats:7,} floats per image")
model_parallel = 2 * per_image * 4 * 128            # forward + backward, float32, batch 128
data_parallel = grouped.num_parameters() * 4        # one all-reduce of every gradient per step (two GPUs)
print(f"model parallel, batch 128: {model_parallel / 2**20:6.1f} MiB per GPU per step")
print(f"data parallel:             {data_parallel / 2**20:6.1f} MiB per GPU per step")

# %% [markdown]
# Expected: `29.6 MiB` against `232.6 MiB`. The towers exchange activations, which are small after pooling; data
# parallelism (a full copy of the model on each GPU, each on half the batch) must exchange every gradient, and 58
# million of AlexNet's 61 million parameters sit in the fully connected layers. In 2012, over PCIe between two
# consumer cards, the towers were the better deal, and they made the model fit. (Krizhevsky's later "one weird
# trick" paper, 2014, combined both: data parallelism for the convolutions, model parallelism for the fc layers.)
#
# Today the whole network fits on one GPU many times over, and tinyalex's faster way to use several GPUs or machines
# is data parallelism: `mpirun -n 4 tinyalex train --distributed --device gpu` (see `docs/MULTI_GPU.md`).
#
# ## Questions
#
# 1. How many parameters does each tower of the full AlexNet hold? (Use `TowerParallelAlexNet.from_alexnet(AlexNet())`
#    and `num_parameters()` on each of `.towers`.) Why is the sum equal to 60,965,224?
# 2. Give the grouped model one LRN window over all channels (`nn.LocalResponseNorm()` in place of `model.norm1`
#    and `model.norm2`) and compare its logits with the per-tower model's (which equal the towers'). Why is the
#    difference small with the paper's $\alpha = 10^{-4}$, and what happens with $\alpha = 0.5$?
# 3. Using `layer_table`, compare the multiply-adds per image of `AlexNet(towers=2)` and `AlexNet(towers=1)`. How
#    much arithmetic does the grouping save, and in which layers?
#
# The answers are in the collapsed cell below.

# %% [solution]
split = TowerParallelAlexNet.from_alexnet(AlexNet())
sizes = [tower.num_parameters() for tower in split.towers]
print(f"1. {sizes[0]:,} + {sizes[1]:,} = {sum(sizes):,}: every weight of the grouped model is in exactly one tower")

for alpha in (1e-4, 0.5):
    across, split = alexnet_small(seed=0).eval(), alexnet_small(seed=0).eval()
    for net, groups in ((across, 1), (split, 2)):
        net.norm1 = nn.LocalResponseNorm(alpha=alpha, groups=groups)
        net.norm2 = nn.LocalResponseNorm(alpha=alpha, groups=groups)
    with tinyalex.no_grad():
        a1, a2 = across(images).numpy(), split(images).numpy()
    print(f"2. alpha {alpha}: one window over all channels differs from per-tower LRN by"
          f" {np.abs(a1 - a2).max() / np.abs(a2).max():.1e} (relative)")
print("   With alpha = 1e-4 the normalisation is nearly a constant factor (lesson 6), so which channels share a"
      " window hardly matters; with a large alpha it does.")

macs = [sum(r.mult_adds for r in layer_table(m)) for m in (grouped, single)]
print(f"3. towers {macs[0]:,}, one GPU {macs[1]:,} multiply-adds per image: {1 - macs[0] / macs[1]:.0%} fewer,"
      " all of it in conv2, conv4 and conv5, whose work halves")

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
