# %% [markdown]
# # Lesson 11 — Training: momentum, weight decay, initialisation and the learning-rate schedule
#
# Section 5 of the paper gives the whole recipe in one paragraph: stochastic gradient descent on batches of 128,
# momentum 0.9, weight decay 0.0005, weights from $\mathcal{N}(0, 0.01^2)$, some biases set to 1, a learning rate of
# 0.01 divided by 10 whenever the validation error stopped improving, about 90 epochs, "five to six days on two NVIDIA
# GTX 580 3GB GPUs". This lesson writes each part out and then trains a small network for a few epochs.
#
# **You will learn**
# - the paper's update rule with weight decay, written out, and tinyalex's `MomentumSGD`, which follows it exactly;
# - how it differs from the momentum convention of PyTorch and others (where the learning rate sits);
# - what the initialisation does to the signal, and why a *small* network needs more care than the paper's;
# - the learning-rate schedule (`ReduceLROnPlateau`) and a short training run with its curves (`tinyalex.training.fit`);
# - the top-1 and top-5 error rates the paper reports.
#
# You write one step of the paper's update and the top-k error (graded exercises 11.1 and 11.2).

# %%
DEVICE = "cpu"  # "gpu" trains on CuPy
DATA = None     # None: the embedded shapes; or an ImageNet-layout folder (train/<class>/*.JPEG, val/...), or a
                # folder written by `tinyalex prepare`

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import facts
import tinyalex
from grading import check
from lesson_data import open_splits
from tinyalex import nn
from tinyalex.data.augment import center_crop
from tinyalex.data.decode import load_rgb_square
from tinyalex.data.loader import DataLoader
from tinyalex.models import AlexNet, alexnet_small
from tinyalex.optim import MomentumSGD, ReduceLROnPlateau
from tinyalex.training import fit
from tinyalex.training.metrics import topk_wrong

# show figures here, whatever backend an imported module selected
%matplotlib inline
plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})

# %% [markdown]
# ## 1. The update rule
#
# For every weight $w$, with velocity $v$ (zero at the start), learning rate $\epsilon$ and the gradient of the loss
# averaged over the batch $D_i$:
#
# $$ v_{i+1} := 0.9 \cdot v_i - 0.0005 \cdot \epsilon \cdot w_i - \epsilon \cdot \Big\langle \frac{\partial L}{\partial w}\Big|_{w_i} \Big\rangle_{D_i}
#    \qquad\qquad w_{i+1} := w_i + v_{i+1} $$
#
# The middle term is **weight decay**: it pulls every weight towards zero by a fraction $0.0005\,\epsilon$ per step.
# It is the gradient of an extra loss $\frac{0.0005}{2}\|w\|^2$, and the paper found it "not merely a regularizer: it
# reduces the model's training error".
#
# **Exercise 11.1.** Write one step of this rule, `momentum_step(w, v, grad, lr, momentum, decay)`, returning the new
# `(w, v)` as new arrays (leave the arguments unchanged). The check compares with one `step()` of tinyalex's
# `MomentumSGD` started from the same velocity.

# %%
def momentum_step(w, v, grad, lr, momentum, decay):
    """The paper's update: v <- momentum v - decay lr w - lr grad, then w <- w + v."""
    ### BEGIN SOLUTION
    v = momentum * v - decay * lr * w - lr * grad
    return w + v, v
    ### END SOLUTION

# %%
def optimizer_step(w, v, grad, lr, momentum, decay):
    """One step of tinyalex's MomentumSGD from weights w and velocity v: the new (w, v)."""
    p = nn.Parameter(np.array(w, dtype=np.float64))
    optimizer = MomentumSGD([p], lr=lr, momentum=momentum, weight_decay=decay)
    optimizer.load_state_dict({"groups": [dict(lr=lr, momentum=momentum, weight_decay=decay)], "velocities": {0: np.array(v)}})
    p.grad = np.array(grad, dtype=np.float64)
    optimizer.step()
    return p.data, optimizer.velocities[id(p)]

check(momentum_step, optimizer_step,
      cases=lambda rng: dict(w=rng.standard_normal(6), v=rng.standard_normal(6), grad=rng.standard_normal(6),
                             lr=rng.uniform(0.01, 0.5), momentum=rng.uniform(0.5, 0.99), decay=rng.uniform(0.01, 0.1)))

# %% [markdown]
# ## 2. Where the learning rate sits
#
# PyTorch (and many frameworks) write momentum as $v \leftarrow \mu v + g$, $w \leftarrow w - \epsilon v$: the
# learning rate multiplies the velocity *when it is applied*, not when the gradient enters it. With a constant
# $\epsilon$ the two rules give the same weights. They differ when $\epsilon$ changes: in the paper's rule the
# velocity carries the old rate's steps and fades out at the momentum's pace; in the other the whole velocity is
# rescaled at once. Here both follow the same gradients and the rate is divided by 10 at step 20:

# %%
def pytorch_style(w, v, grad, lr, momentum=0.9):
    v = momentum * v + grad
    return w - lr * v, v

steps = 40
grads = np.full(steps, 1.0)                               # a constant gradient: the velocity settles
lrs = np.where(np.arange(steps) < 20, 0.1, 0.01)
paths = {"paper (MomentumSGD)": [0.0], "PyTorch-style": [0.0]}
state = {name: (0.0, 0.0) for name in paths}
for g, lr in zip(grads, lrs):
    for name, rule in (("paper (MomentumSGD)", lambda w, v: optimizer_step(w, v, g, lr, 0.9, 0.0)),
                       ("PyTorch-style", lambda w, v: pytorch_style(w, v, g, lr))):
        state[name] = rule(*state[name])
        paths[name].append(float(state[name][0]))
for name, path in paths.items():
    plt.plot(-np.diff(path), label=name)
plt.axvline(20, color="gray", ls=":")
plt.xlabel("step")
plt.ylabel("size of the step taken")
plt.title("learning rate divided by 10 at step 20")
plt.legend()
plt.show()

# %% [markdown]
# Before the change both take the same steps; after it, the PyTorch-style rule drops to the new step size at once,
# while in the paper's rule the old velocity decays by a factor 0.9 per step, gliding down over a few tens of steps.
# Small, but it is why copying hyperparameters between the two conventions around a schedule change is not exact,
# and why tinyalex writes the paper's rule out.
#
# ## 3. Initialisation
#
# "We initialized the weights in each layer from a zero-mean Gaussian distribution with standard deviation 0.01. We
# initialized the neuron biases in the second, fourth, and fifth convolutional layers, as well as in the fully
# connected hidden layers, with the constant 1 ... [to provide] the ReLUs with positive inputs." `AlexNet` does
# exactly this, and so does the CPU-sized `alexnet_small` with `init="paper"`. We use the CPU-sized network here,
# with the paper's first layer (96 → 24 kernels of $11 \times 11$, stride 4, on 64-pixel crops):

# %%
def small_net(**changes):
    return alexnet_small(conv1_kernel=11, conv1_stride=4, conv1_padding=2, seed=0, **changes)

train_set, val_set = open_splits(DATA, 73, "{name}-prepared-73")   # 73 x 73 squares (lessons/lesson_data.py)
x, _ = next(iter(DataLoader(train_set, 64, train=False, crop=64, workers=0)))   # 64 images, minus the mean

def signal(model, x):
    """For each conv/fc layer: the spread of its outputs across images, against their typical size."""
    rows = []
    model.eval()
    with tinyalex.no_grad():
        h = tinyalex.Tensor(x) * model.input_scale        # what forward() does first (1 for the paper's init)
        for name, layer in model.named_children():
            h = layer(h)
            if name.startswith(("conv", "fc")):
                out = h.numpy().reshape(len(x), -1)
                rows.append((name, out.std(axis=0).mean(), np.abs(out).mean()))
    return rows

for name, spread, size in signal(small_net(init="paper"), x):
    print(f"{name:6s} differs between images by {spread:8.4f}   typical size {size:8.4f}")

# %% [markdown]
# Does the signal survive in the paper's own network? Its layers are wider (fan-ins of 1,200 to 9,216, so
# $0.01 \cdot \sqrt{\text{fan-in}}$ is between 0.35 and 1, against a quarter of that width here), which shrinks the
# signal less per layer. Measured on the four photos of `lessons/photos/` (centre crops of 224 pixels, minus their
# mean), through `AlexNet()` as the paper initialised it:

# %%
photos = np.stack([center_crop(load_rgb_square(p, 256), 224) for p in sorted(Path("photos").glob("*.jpg"))])
photos = (photos - photos.mean(axis=0)).astype(np.float32).transpose(0, 3, 1, 2)
paper_rows = signal(AlexNet(), photos)
small_rows = signal(small_net(init="paper"), x)
for (name, spread, size), (_, small_spread, small_size) in zip(paper_rows, small_rows):
    print(f"{name:6s} paper's AlexNet: differs by {spread:8.4f}, size {size:8.4f}  ({spread / size:6.1%})"
          f"   small net: {small_spread / small_size:6.1%}")
ratio = {name: spread / size for name, spread, size in paper_rows}
small_ratio = {name: spread / size for name, spread, size in small_rows}
facts.record(measured=True, paper_fc7=ratio["fc7"], paper_conv1=ratio["conv1"], small_fc7=small_ratio["fc7"])

# %% [markdown]
# It does not survive there either. In the paper's network conv1's outputs differ between images by
# {{paper_conv1:.0%}} of their typical size, but by fc7 only by {{paper_fc7:.1%}} (in the small network by a
# fraction {{small_fc7:.0e}}): each layer shrinks what varies with the image, while the biases of 1 add the same constant to
# every image. At the start both networks give nearly the same output for every image, and gradient descent spends
# many epochs on this plateau, at the loss $\ln 10 = 2.30$ of a uniform guess here ($\ln 1000$ for the paper's),
# before it finds its way out. The paper could afford that: 90 epochs over 1.2 million images. A handful of epochs
# on the CPU would show nothing (question 3 below tries).
#
# So `alexnet_small` starts differently by default (`init="he"`): weights scaled to the layer sizes, as later practice
# does (He et al., 2015: standard deviation $\sqrt{2/\text{fan-in}}$ in the layers that read ReLU outputs,
# $\sqrt{1/\text{fan-in}}$ in conv1 and fc8), biases 0, and the mean-subtracted pixels multiplied by 1/64 in
# `forward`, so that they are of about unit size: their standard deviation in the batch above is
# {{pixel_std:.0f}}, {{scaled_std:.2f}} once scaled.
# Everything else (momentum, weight decay, learning rate 0.01, augmentation) is the paper's. Dropout is left out of
# this short run: it roughly doubles the number of iterations needed (lesson 8).

# %%
net = small_net(init="he", dropout=0.0, num_classes=len(train_set.class_names))
print(f"pixels minus the mean: standard deviation {x.std():.1f}; times input_scale = {net.input_scale:.4f}:"
      f" {x.std() * net.input_scale:.2f}")
for name, spread, size in signal(net, x):
    print(f"{name:6s} differs between images by {spread:8.4f}   typical size {size:8.4f}")
facts.record(pixel_std=float(x.std()), scaled_std=float(x.std() * net.input_scale))

# %% [markdown]
# Now every layer's output varies with the image about as much as it is large.
#
# ## 4. The learning-rate schedule
#
# "The heuristic which we followed was to divide the learning rate by 10 when the validation error rate stopped
# improving with the current learning rate. The learning rate was initialized at 0.01 and reduced three times prior to
# termination." `ReduceLROnPlateau` does this: call `step(validation_error)` once per epoch; after `patience` epochs
# without a new best it divides the rate by 10, and after three reductions the next plateau stops the run. On a
# made-up sequence of validation errors:

# %%
demo = MomentumSGD([nn.Parameter(np.zeros(1, dtype=np.float32))], lr=0.01)
schedule = ReduceLROnPlateau(demo, factor=0.1, patience=2, max_reductions=3)
errors = [0.8, 0.6, 0.5, 0.45, 0.46, 0.47, 0.40, 0.39, 0.39, 0.39, 0.37, 0.38, 0.38, 0.36, 0.36, 0.36, 0.36, 0.36]
rates = []
for epoch, error in enumerate(errors, 1):
    rates.append(demo.lr)
    schedule.step(error)
    if schedule.stop:
        print(f"stop after epoch {epoch}: {schedule.reductions} reductions made")
        break
fig, ax = plt.subplots()
ax.plot(range(1, len(rates) + 1), errors[:len(rates)], "o-", label="validation error")
ax.set(xlabel="epoch", ylabel="validation error")
ax2 = ax.twinx()
ax2.step(range(1, len(rates) + 1), rates, "C1", where="post", label="learning rate")
ax2.set(yscale="log", ylabel="learning rate")
fig.legend(loc="center right")
plt.show()

# %% [markdown]
# ## 5. A short training run
#
# `tinyalex.training.fit(model, train_loader, val_loader, optimizer, epochs)` runs the loop: for every batch a
# forward pass, the softmax cross-entropy, a backward pass and a `MomentumSGD` step; after every epoch a pass over the
# validation set (centre crops); it returns one record per epoch. With `out_dir` it also writes checkpoints, a CSV
# of the metrics and the curves (that is what `tinyalex train` calls). The loaders give random 64-pixel crops with
# flips and fancy PCA for training, centre crops for validation.

# %%
EPOCHS = 6
train_loader = DataLoader(train_set, batch_size=32, train=True, crop=64, seed=0, device=DEVICE, workers=1)
val_loader = DataLoader(val_set, batch_size=100, train=False, crop=64, device=DEVICE, workers=1)
optimizer = MomentumSGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005)
history = fit(net, train_loader, val_loader, optimizer, EPOCHS, schedule=ReduceLROnPlateau(optimizer), device=DEVICE,
              quiet=True)
for r in history:
    print(f"epoch {r['epoch']}: train loss {r['train_loss']:.3f}, train error {1 - r['train_accuracy']:.1%}, "
          f"validation error {r['top1_error']:.1%} (top-5 {r['top5_error']:.1%}), lr {r['lr']:g}")
best = min(history, key=lambda r: r["top1_error"])
facts.record(measured=True, first_error=history[0]["top1_error"], last_error=history[-1]["top1_error"],
             best_error=best["top1_error"], best_epoch=best["epoch"], last_top5=history[-1]["top5_error"],
             epochs=len(history), classes=len(train_set.class_names))

# %% [markdown]
# The **top-1 error** is the fraction of validation images whose highest-scoring class is not the true one; the
# **top-5 error** the fraction whose true class is not among the five highest scores. The paper reports both, and the
# ILSVRC competition ranked entries by top-5 (the 1000 classes include near-synonyms such as different breeds of
# dog, where a second guess is fair). Here the validation error fell from {{first_error:.1%}} after the first epoch
# to {{best_error:.1%}} at its lowest (epoch {{best_epoch}}), and was {{last_error:.1%}} after the last of {{epochs}}
# epochs, with a top-5 error of {{last_top5:.1%}}, against {{classes}} classes. From one epoch to the next the error
# of so short a run on 1,000 images can move up as well as down, which is why `tinyalex train` keeps the
# best epoch's checkpoint (`best.npz`) beside the last one.
#
# **Exercise 11.2.** Write `top_k_error(scores, labels, k)`: the fraction of rows of `scores` $(N, K)$ whose label is
# not among the `k` highest scores of its row (`np.argsort` along axis 1 sorts from low to high). The check
# compares with tinyalex's metric for random $k$.

# %%
def top_k_error(scores, labels, k):
    """The fraction of rows whose true label is not among the k highest scores."""
    ### BEGIN SOLUTION
    best = np.argsort(scores, axis=1)[:, -k:]
    return float(np.mean(~(best == labels[:, None]).any(axis=1)))
    ### END SOLUTION

# %%
def scores_case(rng):
    """50 rows of scores over 10 classes and k from 2 to 5, where the true label is among the k highest in 30 rows
    and is the (k + 1)-th highest in one: so the k lowest scores (wrong in those 30 rows) give an error above one
    half, the k highest one below, and k + 1 of them one row fewer wrong."""
    scores, k = rng.standard_normal((50, 10)), int(rng.integers(2, 6))
    ranked = np.argsort(scores, axis=1)[:, ::-1]                # classes from the highest score down
    labels = rng.integers(0, 10, size=50)
    labels[:30] = ranked[np.arange(30), rng.integers(0, k, size=30)]
    labels[30] = ranked[30, k]
    order = rng.permutation(50)
    return dict(scores=scores[order], labels=labels[order], k=k)

check(top_k_error, lambda scores, labels, k: topk_wrong(scores, labels, k) / len(labels), cases=scores_case)

# %%
epochs = [r["epoch"] for r in history]
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
left.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
left.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
left.axhline(np.log(10), color="gray", ls=":", label="uniform guess")
left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
right.plot(epochs, [1 - r["train_accuracy"] for r in history], "o-", label="train")
right.plot(epochs, [r["top1_error"] for r in history], "o-", label="validation")
right.axhline(0.9, color="gray", ls=":", label="chance")
right.set(xlabel="epoch", ylabel="top-1 error", title="error", ylim=(0, 1))
for ax in (left, right):
    ax.legend()
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# On the embedded shapes the error falls well below chance (90%) within a few epochs of 1,000 images. A real run
# trains much longer: `tinyalex
# train` on the full embedded set (5,000 training images) for 20 epochs, or on an ImageNet subset with
# `tinyalex train --data FOLDER`; the paper made roughly 90 passes over 1.2 million images.
#
# ## Questions
#
# 1. Show that the paper's rule with weight decay $\lambda$ is the plain momentum rule applied to the loss
#    $L + \frac{\lambda}{2} \|w\|^2$: compare a step with `decay=0.0005` against a step with `decay=0` and the
#    gradient `g + 0.0005 * w`.
# 2. With a constant learning rate, show numerically that the PyTorch-style rule and the paper's rule give the same
#    weights (run both for 30 steps with random gradients and `lr=0.01`).
# 3. Train the paper's initialisation (`small_net(init="paper", dropout=0.0)`) for two epochs with the same loaders.
#    What is its loss?
#
# The answers are in the collapsed cell below.

# %% [solution]
rng = np.random.default_rng(0)
w_a, v_a = w_b, v_b = rng.standard_normal(5), np.zeros(5)
for g in rng.standard_normal((10, 5)):
    w_a, v_a = optimizer_step(w_a, v_a, g, 0.01, 0.9, 0.0005)
    w_b, v_b = optimizer_step(w_b, v_b, g + 0.0005 * w_b, 0.01, 0.9, 0.0)
print("1. equal:", np.allclose(w_a, w_b))

w_a = w_b = v_a = v_b = 0.0
for g in rng.standard_normal(30):
    w_a, v_a = optimizer_step(w_a, v_a, g, 0.01, 0.9, 0.0)
    w_b, v_b = pytorch_style(w_b, v_b, g, lr=0.01)
print("2. equal with a constant rate:", np.isclose(w_a, w_b))

paper_net = small_net(init="paper", dropout=0.0, num_classes=len(train_set.class_names))
paper_history = fit(paper_net, train_loader, val_loader, MomentumSGD(paper_net.parameters(), lr=0.01), 2,
                    device=DEVICE, quiet=True)
print("3. losses:", [round(r["train_loss"], 3) for r in paper_history], "validation errors:",
      [f"{r['top1_error']:.0%}" for r in paper_history], f"(ln {len(train_set.class_names)} ="
      f" {np.log(len(train_set.class_names)):.3f}: still guessing)")

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
