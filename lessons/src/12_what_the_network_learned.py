# %% [markdown]
# # Lesson 12 — What the network learned: first-layer kernels and nearest neighbours
#
# Section 6.1 of the paper looks inside the trained network twice. Figure 3 shows the 96 kernels of the first layer
# as little colour images: oriented edges, frequency patterns and colour blobs. Figure 4 takes test images and finds
# the training images whose activations in the last hidden layer (fc7, 4096 numbers) are nearest: images of the same
# kind, even when their pixels are far apart.
#
# **You will learn**
# - how to turn first-layer weights into an image grid, tower by tower, and what to look for in it;
# - how to use a hidden layer as a feature vector and search for nearest neighbours with it;
# - why neighbours in feature space beat neighbours in pixel space, measured on held-out images.
#
# We train a small AlexNet-shaped network for a few epochs first (the recipe of lesson 11), so expect rough kernels:
# the paper's are the product of 90 epochs on 1.2 million images. `tinyalex figures CHECKPOINT` draws the same
# figures for any trained checkpoint.

# %%
DEVICE = "cpu"  # "gpu" trains on CuPy
DATA = None     # None: the embedded shapes; or a folder in the ImageNet layout (train/<class>/*.JPEG, val/...)
EPOCHS = 6

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import tinyalex
from tinyalex.data.augment import center_crop
from tinyalex.data.dataset import PreparedDataset
from tinyalex.data.loader import DataLoader
from tinyalex.data.prepare import prepare
from tinyalex.data.synthetic import default_root, ensure_default_dataset
from tinyalex.models import alexnet_small
from tinyalex.optim import MomentumSGD
from tinyalex.training import fit

# show figures here, whatever backend an imported module selected
%matplotlib inline
# image grids: JPEG keeps the notebook small
%config InlineBackend.figure_formats = ["jpeg"]
plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})

# %% [markdown]
# ## 1. A small trained network
#
# The CPU-sized AlexNet with the paper's first layer (24 kernels of $11 \times 11 \times 3$, stride 4, in two towers of
# 12), initialised to the layer sizes (`init="he"`, which also scales the pixels to unit size), trained with the
# paper's momentum and weight decay on 1,000 images of the embedded shapes (lesson 11 explains each choice).

# %%
source = Path(DATA) if DATA else ensure_default_dataset(train_per_class=100, val_per_class=20, progress=False)
prepared = Path(default_root()) / f"{source.name}-prepared-73"
prepare(source, prepared, size=73, progress=False)
train_set, val_set = PreparedDataset(prepared, "train"), PreparedDataset(prepared, "val")
classes = [name.split(",")[0] for name in train_set.class_names]
model = alexnet_small(len(classes), conv1_kernel=11, conv1_stride=4, conv1_padding=2, dropout=0.0, init="he", seed=0)
initial_kernels = model.conv1.weight.numpy().copy()

history = fit(model, DataLoader(train_set, 32, train=True, crop=64, seed=0, device=DEVICE, workers=1),
              DataLoader(val_set, 100, train=False, crop=64, device=DEVICE, workers=1),
              MomentumSGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005), EPOCHS, device=DEVICE,
              quiet=True)
print(f"after {EPOCHS} epochs: validation error {history[-1]['top1_error']:.1%} (chance: 90%)")

# %% [markdown]
# ## 2. The first-layer kernels (Figure 3)
#
# Each kernel is a $3 \times 11 \times 11$ array: an $11 \times 11$ RGB image once its axes are put in
# $(H, W, C)$ order. Weights are positive and negative, so each kernel is scaled on its own from its minimum (black)
# to its maximum (white). Rows are towers: kernels 0-11 feed tower 1's conv2, kernels 12-23 tower 2's.

# %%
def kernel_grid(weights, towers=2, pad=1):
    """(C, 3, k, k) weights -> one RGB image, a row of kernels per tower, each kernel scaled to [0, 1]."""
    c, _, k, _ = weights.shape
    per_row = c // towers
    low = weights.min(axis=(1, 2, 3), keepdims=True)
    high = weights.max(axis=(1, 2, 3), keepdims=True)
    tiles = ((weights - low) / (high - low)).transpose(0, 2, 3, 1)            # (C, k, k, 3)
    grid = np.ones((towers * (k + pad) + pad, per_row * (k + pad) + pad, 3))
    for i, tile in enumerate(tiles):
        r, col = divmod(i, per_row)
        grid[pad + r * (k + pad):pad + r * (k + pad) + k, pad + col * (k + pad):pad + col * (k + pad) + k] = tile
    return grid

trained = model.conv1.weight.numpy()
panels = [("at initialisation", initial_kernels), (f"after {EPOCHS} epochs", trained),
          ("the change: trained minus initial", trained - initial_kernels)]
fig, axes = plt.subplots(3, 1, figsize=(8, 5.2))
for ax, (title, w) in zip(axes, panels):
    ax.imshow(kernel_grid(w), interpolation="nearest")
    ax.set_title(f"conv1 kernels {title}", fontsize=10)
    ax.axis("off")
plt.show()
relative = np.linalg.norm((trained - initial_kernels).reshape(24, -1), axis=1)
relative /= np.linalg.norm(initial_kernels.reshape(24, -1), axis=1)
print(f"each kernel moved by {relative.min():.0%} to {relative.max():.0%} of its initial size")

# %% [markdown]
# After a few epochs the kernels still look much like their random start: each has moved by only a fraction of its
# initial size (printed above), and the initial noise dominates the picture. The *change* that training has made
# (bottom panel) is another matter: smooth colour blobs, and light-dark stripes at a few orientations, many of them
# horizontal or vertical like the stripes, checkerboards and edges of the shapes. These are the beginnings of
# Figure 3's frequency- and orientation-selective kernels and colour blobs; the paper's 90 epochs wash the
# initial noise out entirely (as a longer `tinyalex train` run does).
#
# The paper found its two towers specialising: "the kernels on GPU 1 are largely color-agnostic, while the kernels on
# GPU 2 are largely color-specific", in every run, independently of the initialisation. Exercise 2 measures that
# for our network (after a few epochs, do not expect it).
#
# ## 3. Nearest neighbours in the last hidden layer (Figure 4)
#
# "If two images produce feature activation vectors with a small Euclidean separation, we can say that the higher
# levels of the neural network consider them to be similar." We take the output of fc7 after its ReLU (`act7`: 1024
# numbers in the small network) for every training image and for some validation images (centre crops), and for each
# validation image list the training images with the nearest feature vectors.

# %%
def features(dataset, layer="act7"):
    """(activations of `layer` for every image's centre crop, labels), in eval mode."""
    out, labels = [], []
    model.eval()
    with tinyalex.no_grad():
        for x, y in DataLoader(dataset, 100, train=False, crop=64, device=DEVICE, workers=1):
            h = tinyalex.Tensor(x) * model.input_scale        # what forward() does first
            for name, child in model.named_children():
                h = child(h)
                if name == layer:
                    break
            out.append(h.numpy().reshape(len(y), -1))
            labels.append(tinyalex.to_cpu(y))
    return np.concatenate(out), np.concatenate(labels)

gallery, gallery_labels = features(train_set)
queries, query_labels = features(val_set)
print("gallery:", gallery.shape, " queries:", queries.shape)

def nearest(q, g, k):
    """Indices of the k rows of g nearest to each row of q (Euclidean)."""
    d = (q**2).sum(1)[:, None] - 2 * q @ g.T + (g**2).sum(1)[None, :]
    return np.argsort(d, axis=1, kind="stable")[:, :k]

picks = np.random.default_rng(1).choice(len(queries), 5, replace=False)
found = nearest(queries[picks], gallery, 6)
crop = lambda images: center_crop(np.asarray(images), 64)
fig, axes = plt.subplots(5, 7, figsize=(7.5, 5.6))
for row, (q, neighbours) in enumerate(zip(picks, found)):
    axes[row, 0].imshow(crop(val_set.images[q]))
    axes[row, 0].set_title(f"test: {classes[query_labels[q]]}", fontsize=8, color="C3")
    for col, g in enumerate(neighbours, 1):
        axes[row, col].imshow(crop(train_set.images[g]))
        axes[row, col].set_title(classes[gallery_labels[g]], fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# The first column holds test images, the others the six training images nearest to each in fc7's space. Where the
# network has learned a class, the neighbours share it although colours, sizes, positions and backgrounds differ.
#
# ## 4. Feature space against pixel space
#
# The paper notes that the retrieved images "are not close in L2" pixel distance. A fair test: classify every
# validation image by the label of its single nearest training image (1-nearest-neighbour), once with fc7 features
# and once with raw pixels (the mean-subtracted centre crops).

# %%
pixels_gallery = crop(train_set.images).reshape(len(train_set), -1).astype(np.float32)
pixels_queries = crop(val_set.images).reshape(len(val_set), -1).astype(np.float32)
for name, q, g in [("fc7 features", queries, gallery), ("raw pixels", pixels_queries, pixels_gallery)]:
    predicted = gallery_labels[nearest(q, g, 1)[:, 0]]
    print(f"1-nearest-neighbour error with {name:12s}: {np.mean(predicted != query_labels):.1%}")
print("chance: 90.0%")

# %% [markdown]
# In pixel space the nearest image is the one with similar colours in similar places, which says little about the
# shape; fc7's space groups images by what the network learned to tell apart. This is also why the paper suggests
# using such feature vectors (compressed to short binary codes) for image retrieval.
#
# ## Exercises
#
# 1. Use the output of an earlier layer (`"act5"`, flattened) instead of fc7 for the 1-nearest-neighbour test. Is it
#    better or worse than fc7 after this short training?
# 2. Measure how colour-specific each kernel is: the mean over pixels of the standard deviation across its three
#    colour channels, divided by the kernel's overall standard deviation. Compare the two towers.
# 3. Which classes does the network confuse most? Count, for the validation images, (true, predicted) pairs of the
#    network's own predictions.

# %% [solution]
g5, _ = features(train_set, "act5")
q5, _ = features(val_set, "act5")
error5 = np.mean(gallery_labels[nearest(q5, g5, 1)[:, 0]] != query_labels)
print(f"1. 1-NN error with act5 features: {error5:.1%}")

def colourfulness(w):
    return w.std(axis=1).mean(axis=(1, 2)) / w.std(axis=(1, 2, 3))

for name, w in [("trained", model.conv1.weight.numpy()), ("initial", initial_kernels)]:
    c = colourfulness(w)
    print(f"2. colour-specificity of the {name} kernels, tower 1: {c[:12].mean():.2f}, tower 2: {c[12:].mean():.2f}")
print("   (0 would be grey kernels; after a few epochs both towers are still at the random kernels' level)")

model.eval()
with tinyalex.no_grad():
    scores = np.concatenate([model(x).numpy() for x, _ in DataLoader(val_set, 100, train=False, crop=64, device=DEVICE)])
pairs = {}
for t, p in zip(query_labels, scores.argmax(axis=1)):
    if t != p:
        pairs[classes[t], classes[p]] = pairs.get((classes[t], classes[p]), 0) + 1
print("3.", sorted(pairs.items(), key=lambda item: -item[1])[:4])
