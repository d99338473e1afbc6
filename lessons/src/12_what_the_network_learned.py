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
# - why neighbours in feature space beat neighbours in pixel space, measured on held-out images;
# - what the first layer does to a photograph.
#
# You write the kernel scaling and the nearest-neighbour search (graded exercises 12.1 and 12.2).
#
# We train a small AlexNet-shaped network for a few epochs first (the recipe of lesson 11), so expect rough kernels:
# the paper's are the product of 90 epochs on 1.2 million images. `tinyalex figures CHECKPOINT` draws the same
# figures for any trained checkpoint.

# %%
DEVICE = "cpu"  # "gpu" trains on CuPy
DATA = None     # None: the embedded shapes; or an ImageNet-layout folder (train/<class>/*.JPEG, val/...), or a
                # folder written by `tinyalex prepare`
EPOCHS = 6

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import facts
import tinyalex
from grading import check
from lesson_data import open_splits
from tinyalex import functional as F
from tinyalex.data.augment import center_crop
from tinyalex.data.loader import DataLoader
from tinyalex.data.decode import load_rgb_square
from tinyalex.experiments.kernels import kernel_tiles, mosaic
from tinyalex.experiments.neighbours import nearest_neighbours
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
train_set, val_set = open_splits(DATA, 73, "{name}-prepared-73")   # 73 x 73 squares (lessons/lesson_data.py)
classes = [name.split(",")[0] for name in train_set.class_names]
model = alexnet_small(len(classes), conv1_kernel=11, conv1_stride=4, conv1_padding=2, dropout=0.0, init="he", seed=0)
initial_kernels = model.conv1.weight.numpy().copy()

history = fit(model, DataLoader(train_set, 32, train=True, crop=64, seed=0, device=DEVICE, workers=1),
              DataLoader(val_set, 100, train=False, crop=64, device=DEVICE, workers=1),
              MomentumSGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005), EPOCHS, device=DEVICE,
              quiet=True)
chance = 1 - 1 / len(classes)
print(f"after {EPOCHS} epochs: validation error {history[-1]['top1_error']:.1%} (chance: {chance:.0%})")
print("classes:", ", ".join(classes))

model.eval()
with tinyalex.no_grad():
    predicted = np.concatenate([tinyalex.to_cpu(model(x).data).argmax(axis=1)
                                for x, _ in DataLoader(val_set, 100, train=False, crop=64, device=DEVICE, workers=1)])
counts = np.bincount(predicted, minlength=len(classes))
favourite = int(counts.argmax())
print("validation predictions per class:", dict(zip(classes, counts.tolist())))
facts.record(measured=True, error=history[-1]["top1_error"], chance=chance, favourite=classes[favourite],
             favourite_share=counts[favourite] / len(predicted), predicted_classes=int((counts > 0).sum()),
             class_count=len(classes))

# %% [markdown]
# The class names are whatever the prepared set holds: the embedded shapes' names here; for your own ImageNet subset,
# the names from its `synset_words.txt` or `LOC_synset_mapping.txt` when the folder has one, else from the table of
# the 1,000 ILSVRC-2012 classes that tinyalex ships (`n02085620` becomes "Chihuahua"); `prepare` writes them to
# the set's `classes.json`, where you can edit them.
#
# The validation error, {{error:.1%}} against {{chance:.0%}} for guessing, hides how lopsided this classifier still
# is: it answers "{{favourite}}" for {{favourite_share:.0%}} of the validation images, and predicts only
# {{predicted_classes}} of the {{class_count}} classes at all. Six epochs on 1,000 images take it off the plateau of
# lesson 11 but no further. Whether more epochs spread its answers over all the classes this notebook does not
# measure: raise `EPOCHS` in the first cell and count again. Its hidden
# layers have learned more than its last one shows: classifying by the nearest training image in fc7's space
# (section 4) gives {{fc7_error:.1%}} error, below the classifier's own {{error:.1%}}.

# %% [markdown]
# ## 2. The first-layer kernels (Figure 3)
#
# Each kernel is a $3 \times 11 \times 11$ array: an $11 \times 11$ RGB image once its axes are put in
# $(H, W, C)$ order. Weights are positive and negative, so each kernel is scaled on its own from its minimum (black)
# to its maximum (white). Rows are towers: kernels 0-11 feed tower 1's conv2, kernels 12-23 tower 2's.

# **Exercise 12.1.** Write `scale_kernels(weights)`: for first-layer weights of shape $(C, 3, k, k)$ return the $C$
# kernels as RGB images, shape $(C, k, k, 3)$, each scaled on its own so that its smallest weight becomes 0 and its
# largest 1. The check compares with tinyalex's `kernel_tiles`.

# %%
def scale_kernels(weights):
    """(C, 3, k, k) weights -> (C, k, k, 3) images in [0, 1], each kernel from its own minimum to its maximum."""
    ### BEGIN SOLUTION
    low = weights.min(axis=(1, 2, 3), keepdims=True)
    high = weights.max(axis=(1, 2, 3), keepdims=True)
    return ((weights - low) / (high - low)).transpose(0, 2, 3, 1)
    ### END SOLUTION

# %%
check(scale_kernels, lambda weights: kernel_tiles(weights, towers=1)[0],
      cases=lambda rng: dict(weights=rng.standard_normal((int(rng.integers(2, 9)), 3, 5, 5)) * rng.uniform(0.01, 1)))

# %% [markdown]
# From here on the figures use tinyalex's `kernel_tiles` and `mosaic` (one row of tiles per tower):

# %%
def kernel_grid(weights, towers=2):
    """One RGB image of a first layer's kernels, a row per tower, each kernel scaled to [0, 1]."""
    tiles = kernel_tiles(weights, towers)                    # (towers, C / towers, k, k, 3)
    return mosaic(tiles.reshape(-1, *tiles.shape[2:]), columns=tiles.shape[1])

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
# GPU 2 are largely color-specific", in every run, independently of the initialisation. Question 2 measures that
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
    """Indices of the k rows of g nearest to each row of q (Euclidean), nearest first: tinyalex's version."""
    return nearest_neighbours(q, g, k)[0]

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
# **Exercise 12.2.** Write `nearest_rows(q, g, k)`: for every row of `q` $(Q, D)$, the indices of the `k` rows of
# `g` $(N, D)$ at the smallest Euclidean distance, nearest first, as an integer array $(Q, k)$. All distances at
# once: $\lVert q - g \rVert^2 = \lVert q \rVert^2 - 2\, q \cdot g + \lVert g \rVert^2$ is one matrix product. The check
# compares with tinyalex's `nearest_neighbours`.

# %%
def nearest_rows(q, g, k):
    """(Q, k) indices of the k rows of g nearest to each row of q, nearest first."""
    ### BEGIN SOLUTION
    squared = (q**2).sum(axis=1)[:, None] - 2 * q @ g.T + (g**2).sum(axis=1)[None, :]
    return np.argsort(squared, axis=1)[:, :k]
    ### END SOLUTION

# %%
check(nearest_rows, lambda q, g, k: nearest_neighbours(q, g, k)[0],
      cases=lambda rng: dict(q=rng.standard_normal((5, 8)), g=rng.standard_normal((30, 8)) * rng.uniform(0.5, 2, size=(30, 1)),
                             k=int(rng.integers(2, 7))))

# %% [markdown]
# The first column holds test images, the others the six training images nearest to each in fc7's space. Where the
# network has learned a class, the neighbours share it although colours, sizes, positions and backgrounds differ.
#
# ## 4. Feature space against pixel space
#
# The paper notes that the retrieved images "are not close in L2" pixel distance. A fair test: classify every
# validation image by the label of its single nearest training image (1-nearest-neighbour), once with fc7 features
# and once with the pixels of the centre crops themselves. (Subtracting the mean image first would change nothing
# here: the same image subtracted from both leaves every distance between two images as it was.)

# %%
pixels_gallery = crop(train_set.images).reshape(len(train_set), -1).astype(np.float32)
pixels_queries = crop(val_set.images).reshape(len(val_set), -1).astype(np.float32)
errors = {}
for name, q, g in [("fc7 features", queries, gallery), ("pixels", pixels_queries, pixels_gallery)]:
    errors[name] = np.mean(gallery_labels[nearest(q, g, 1)[:, 0]] != query_labels)
    print(f"1-nearest-neighbour error with {name:12s}: {errors[name]:.1%}")
print(f"chance: {chance:.1%}")
facts.record(measured=True, fc7_error=errors["fc7 features"], pixel_error=errors["pixels"])

# %% [markdown]
# With fc7's features the nearest training image has the right class often enough for an error of
# {{fc7_error:.1%}}; with pixels, {{pixel_error:.1%}}: better than chance, but not by much. In pixel space the
# nearest image is the one with similar colours in similar places, which says little about the
# shape; fc7's space groups images by what the network learned to tell apart. This is also why the paper suggests
# using such feature vectors (compressed to short binary codes) for image retrieval.
#
# ## 5. The first layer on a photograph
#
# What do the trained kernels respond to in a real photograph? The cat of `lessons/photos/`, at 128 pixels, minus
# the training set's average colour, through conv1 and its ReLU (each map scaled to its own maximum):

# %%
photo = center_crop(load_rgb_square(Path("photos/cat.jpg"), 128), 128).astype(np.float32)
photo = (photo - train_set.mean.reshape(-1, 3).mean(axis=0)).transpose(2, 0, 1)[None]
model.eval()
with tinyalex.no_grad():
    maps = F.relu(model.conv1(tinyalex.Tensor(photo * model.input_scale).to(DEVICE))).numpy()[0]
fig, axes = plt.subplots(3, 9, figsize=(9, 3.3))
axes[0, 0].imshow(load_rgb_square(Path("photos/cat.jpg"), 128))
axes[0, 0].set_title("input", fontsize=8)
for ax, (i, m) in zip(axes.ravel()[1:], enumerate(maps)):
    ax.imshow(m, cmap="gray", vmin=0, vmax=max(m.max(), 1e-6))
    ax.set_title(f"kernel {i}", fontsize=7)
for ax in axes.ravel():
    ax.axis("off")
plt.show()
silent = int((maps.max(axis=(1, 2)) == 0).sum())
facts.record(measured=True, map_side=maps.shape[-1], silent_maps=silent,
             silent_text={0: "every map passed the ReLU somewhere", 1: "one map never passed the ReLU at all"}.get(
                 silent, f"{silent} maps never passed the ReLU at all"))

# %% [markdown]
# Each map is one kernel's answer at every position (stride 4, so {{map_side}} x {{map_side}} of them). When this
# notebook was built, a few maps were blurred copies of the cat's face, answering to brightness; many picked out the
# stripes of the fur and the whiskers, each at its own orientation; and {{silent_text}}. These are the beginnings of the detectors Figure 3 shows, as rough as the kernels above.
#
# ## Questions
#
# 1. Use the output of an earlier layer (`"act5"`, flattened) instead of fc7 for the 1-nearest-neighbour test. Is it
#    better or worse than fc7 after this short training?
# 2. Measure how colour-specific each kernel is: the mean over pixels of the standard deviation across its three
#    colour channels, divided by the kernel's overall standard deviation. Compare the two towers.
# 3. Which classes does the network confuse most? Count, for the validation images, (true, predicted) pairs of the
#    network's own predictions.
#
# The answers are in the collapsed cell below.

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

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
