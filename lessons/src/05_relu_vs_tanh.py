# %% [markdown]
# # Lesson 5 — ReLU versus tanh: the paper's Figure 1
#
# Section 3.1 of the paper argues that "deep convolutional neural networks with ReLUs train several times faster
# than their equivalents with tanh units". Its Figure 1 shows a four-layer network on CIFAR-10 reaching 25% training
# error six times faster with ReLUs. This lesson reproduces that experiment in miniature, measures the speed-up,
# and looks at why it happens and when it does not.
#
# **You will learn**
# - the two nonlinearities and their derivatives: saturating ($\tanh$) and non-saturating ($\max(0, x)$);
# - how to run the Figure 1 experiment: the same network, each with its own best learning rate, timed to a training
#   error threshold;
# - why tanh units learn slowly under the paper's conditions (raw pixels, weights from $\mathcal{N}(0, 0.01^2)$):
#   they start saturated, and a saturated unit passes almost no gradient;
# - that the gap depends on those conditions: with inputs and weights scaled to keep units out of saturation, it
#   disappears on this problem.
#
# The whole lesson trains four small networks on the CPU (about 20 seconds).

# %%
DEVICE = "cpu"  # "gpu" runs the training on CuPy
DATA = None     # None: the embedded shapes; or a folder in the ImageNet layout (train/<class>/*.JPEG, val/...)

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import tinyalex
from tinyalex import functional as F
from tinyalex import nn
from tinyalex.data.dataset import PreparedDataset
from tinyalex.data.prepare import prepare
from tinyalex.data.synthetic import default_root, ensure_default_dataset
from tinyalex.optim import MomentumSGD

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})

def dev(a):
    return tinyalex.Tensor(a).to(DEVICE)

# %% [markdown]
# ## 1. Saturating and non-saturating
#
# $$ \tanh(x), \quad \tanh'(x) = 1 - \tanh^2(x) \qquad\qquad \text{ReLU}(x) = \max(0, x), \quad \text{ReLU}'(x) = [x > 0] $$
#
# For $|x| > 3$ the derivative of $\tanh$ is below 0.01: a unit driven that far is *saturated*, and gradient descent
# barely moves the weights that feed it. A ReLU never saturates for positive inputs: its derivative is exactly 1.

# %%
z = np.linspace(-5, 5, 201)
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
axes[0].plot(z, np.tanh(z), label="tanh")
axes[0].plot(z, np.maximum(z, 0), label="ReLU")
axes[0].set(ylim=(-1.5, 3), title="f(x)")
axes[1].plot(z, 1 - np.tanh(z) ** 2, label="tanh'")
axes[1].plot(z, (z > 0).astype(float), label="ReLU'")
axes[1].set(title="f'(x)")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# ## 2. The experiment
#
# The paper's conditions, scaled down to seconds of CPU:
#
# | | paper (Figure 1) | here |
# |---|---|---|
# | data | CIFAR-10, 50,000 images $32 \times 32$ | the embedded shapes, 1,000 images $16 \times 16$, 10 classes |
# | preprocessing | raw pixels minus the mean | raw pixels (0..255) minus the mean |
# | network | four layers, convolutional | four layers, fully connected (128 units each) |
# | initialisation | $\mathcal{N}(0, 0.01^2)$ | $\mathcal{N}(0, 0.01^2)$, biases 0 |
# | training | SGD with momentum 0.9, no regularisation | the same, batches of 50 |
# | learning rate | "chosen independently to make training as fast as possible" | the best of a grid, per network |
# | measured | epochs to 25% training error | the same |
#
# A fully connected network stands in for the convolutional one because it trains ten times faster on the CPU; the
# effect we are after is in the units, not in the connectivity.

# %%
source = Path(DATA) if DATA else ensure_default_dataset(train_per_class=100, val_per_class=20, progress=False)
prepared = Path(default_root()) / f"lesson05-{source.name}-16"
prepare(source, prepared, size=16, progress=False)
train_set = PreparedDataset(prepared, "train")
x_raw = np.asarray(train_set.images, dtype=np.float32).transpose(0, 3, 1, 2)     # (1000, 3, 16, 16), 0..255
x_paper = x_raw - x_raw.mean(axis=0)                                             # minus the mean image
labels = train_set.labels
print(x_paper.shape, f"pixel std {x_paper.std():.1f}", "classes", len(train_set.class_names))

def network(unit, weight_std, seed=0):
    """Four fully connected layers; weight_std(fan_in) gives each layer's initial standard deviation."""
    rng = np.random.default_rng(seed)
    sizes = [x_paper[0].size, 128, 128, 128, 10]
    layers = [nn.Flatten()]
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out, weight_std=weight_std(fan_in), rng=rng))
        if i < 3:
            layers.append(unit())
    return nn.Sequential(*layers).to(DEVICE)

def epochs_to(threshold, unit, lr, x, weight_std, max_epochs=200, batch=50):
    """Train with momentum SGD; return the training error of every epoch, stopping at the threshold."""
    model = network(unit, weight_std)
    optimizer = MomentumSGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=0.0)
    order_rng = np.random.default_rng(1)
    errors = []
    while len(errors) < max_epochs and (not errors or errors[-1] > threshold):
        wrong = 0
        for batch_ids in np.array_split(order_rng.permutation(len(x)), len(x) // batch):
            scores = model(dev(x[batch_ids]))
            loss = F.softmax_cross_entropy(scores, dev(labels[batch_ids]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            wrong += int((tinyalex.to_cpu(scores.data).argmax(axis=1) != labels[batch_ids]).sum())
        errors.append(wrong / len(x))
    return errors

# %% [markdown]
# The learning rates below were chosen, for each unit separately, as the fastest of the grid
# $\{0.002, 0.005, 0.01, 0.05, 0.1, 0.2\}$ (exercise 1 reruns the search, a few minutes). When this lesson was
# written the grid gave, in epochs to 25%: ReLU 46, **37**, never (unstable), never, never, never; tanh never
# (within 200), never, never, **105**, 166, never. Too large a rate makes ReLU networks diverge; tanh networks
# need a larger one, since most of their gradient is lost in saturated units.

# %%
paper_init = lambda fan_in: 0.01
runs = {"ReLU": (nn.ReLU, 0.005), "tanh": (nn.Tanh, 0.05)}
curves = {name: epochs_to(0.25, unit, lr, x_paper, paper_init) for name, (unit, lr) in runs.items()}

fig, ax = plt.subplots()
for (name, errors), style in zip(curves.items(), ["-", "--"]):
    ax.plot(np.arange(1, len(errors) + 1), errors, style, lw=2, label=f"{name} (lr {runs[name][1]})")
ax.axhline(0.25, color="gray", lw=1)
ax.set(xlabel="epochs", ylabel="training error rate", ylim=(0, 1), title="Figure 1, in miniature")
ax.legend()
plt.show()
reached = {name: len(errors) if errors[-1] <= 0.25 else None for name, errors in curves.items()}
print("epochs to 25% training error:", reached)
if None not in reached.values():
    print(f"ReLU is {reached['tanh'] / reached['ReLU']:.1f} times faster")

# %% [markdown]
# The ReLU network reaches 25% about three times sooner than the tanh network (the paper measured six, on a
# harder problem and a convolutional network). Both curves start flat; the ReLU network breaks away first and falls
# steadily, the tanh network lingers near chance and then creeps down.
#
# ## 3. Why: saturation at the start
#
# With raw pixels (standard deviation about 60 here) and weights of standard deviation 0.01, the first layer's
# inputs to its units have a standard deviation of about $0.01 \cdot \sqrt{768} \cdot 60 \approx 17$. For tanh
# that is deep in saturation: most units sit at $\pm 1$, with a derivative close to 0.

# %%
first = network(nn.Tanh, paper_init)[1]
with tinyalex.no_grad():
    pre = tinyalex.to_cpu(first(F.flatten(dev(x_paper[:200]))).data).ravel()
derivative = 1 - np.tanh(pre) ** 2
print(f"first-layer inputs: std {pre.std():.1f}; tanh'(z) < 0.01 for {np.mean(derivative < 0.01):.0%} of them")
plt.hist(derivative, bins=50)
plt.yscale("log")
plt.xlabel("tanh'(z) of the first layer's units at initialisation")
plt.show()

# %% [markdown]
# Most of the first layer passes (almost) no gradient back to its weights, and the units that do are a shifting
# minority: learning has to proceed through the few unsaturated units, which is slow. A ReLU unit with a large input
# is simply linear there, and passes its gradient unchanged.
#
# ## 4. When the gap disappears
#
# Now the same experiment with the inputs scaled to unit variance and each layer's weights drawn with standard
# deviation $1/\sqrt{\text{fan-in}}$, so that every unit starts in its responsive range. The learning rate grid
# gave 0.01 as the best for both here.

# %%
x_unit = x_paper / x_paper.std()
scaled_init = lambda fan_in: 1 / np.sqrt(fan_in)
fair = {name: epochs_to(0.25, unit, 0.01, x_unit, scaled_init) for name, (unit, _) in runs.items()}
fig, ax = plt.subplots()
for (name, errors), style in zip(fair.items(), ["-", "--"]):
    ax.plot(np.arange(1, len(errors) + 1), errors, style, lw=2, label=name)
ax.axhline(0.25, color="gray", lw=1)
ax.set(xlabel="epochs", ylabel="training error rate", ylim=(0, 1), title="unit-variance inputs, 1/sqrt(fan-in) weights")
ax.legend()
plt.show()
print("epochs to 25% training error:", {name: len(errors) for name, errors in fair.items()})

# %% [markdown]
# On this small problem the two units now train at the same speed. So Figure 1 is a statement about networks set up
# as the paper set them up: under raw pixel inputs and a fixed small initialisation, saturating units are a real
# handicap, and ReLUs removed it without any care about scales. That robustness is much of why ReLUs took over;
# careful initialisation (Glorot and Bengio, 2010; He et al., 2015) and normalisation layers later made the scales
# manageable for any unit. In deeper networks, where tanh's derivative below 1 compounds from layer to layer, ReLUs
# keep an advantage even with careful scaling.
#
# ## Exercises
#
# 1. Rerun the learning-rate search under the paper's conditions: for each unit and each rate of the grid, the epochs
#    to 25% (cap them at 200). Do you get the same best rates?
# 2. Train the tanh network with ReLU's best rate (0.005) and the ReLU network with tanh's (0.05). What happens?
# 3. How large is the fraction of saturated first-layer units ($\tanh' < 0.01$) under the conditions of section 4?

# %% [solution]
RUN_SEARCH = False  # True: a few minutes
if RUN_SEARCH:
    for name, (unit, _) in runs.items():
        for lr in (0.002, 0.005, 0.01, 0.05, 0.1, 0.2):
            errors = epochs_to(0.25, unit, lr, x_paper, paper_init)
            print("1.", name, lr, len(errors) if errors[-1] <= 0.25 else "not within 200 epochs")
else:
    print("1. set RUN_SEARCH = True to run the search")

swapped_tanh = epochs_to(0.25, nn.Tanh, 0.005, x_paper, paper_init, max_epochs=20)
swapped_relu = epochs_to(0.25, nn.ReLU, 0.05, x_paper, paper_init, max_epochs=5)
print(f"2. tanh at 0.005: error {swapped_tanh[-1]:.0%} after {len(swapped_tanh)} epochs (far too slow);"
      f" ReLU at 0.05: error {swapped_relu[-1]:.0%} after {len(swapped_relu)} epochs (stuck: the large steps kill its units)")

first = network(nn.Tanh, scaled_init)[1]
with tinyalex.no_grad():
    pre = tinyalex.to_cpu(first(F.flatten(dev(x_unit[:200]))).data).ravel()
print(f"3. std of the inputs {pre.std():.2f}; saturated: {np.mean(1 - np.tanh(pre) ** 2 < 0.01):.1%}")
