# %% [markdown]
# # Lesson 9 — Data: rescaling, the mean image, crops, flips, fancy PCA and 10-crop testing
#
# The paper's preprocessing is deliberately small (Section 2): rescale every image so that its shorter side is 256,
# cut out the central $256 \times 256$ square, subtract the mean image. Its data augmentation (Section 4.1) is where
# the work is: random $224 \times 224$ crops with horizontal flips, and "fancy PCA" colour shifts. At test time it
# averages ten crops.
#
# **You will learn**
# - how tinyalex turns a folder of JPEGs of any size into fixed-size squares, and the mean image;
# - what random crops and flips look like, and why they enlarge the training set "by a factor of 2048";
# - fancy PCA: colour shifts along the principal components of the RGB values, shown before and after;
# - the ten test-time crops, and the batches the `DataLoader` hands to the network.
#
# You write the crop and flip, fancy PCA and the ten crops (graded exercises 9.1 to 9.3), and see the
# preprocessing on real photographs (four public-domain photos in `lessons/photos/`) as well as on the data set.
#
# The lesson runs on the embedded data set of drawn shapes (generated on first use into `$TINYALEX_DATA`, a few
# seconds), at a reduced size: images of 73 pixels and crops of 64, the paper's $256:224$ ratio. Set `DATA` to an
# ImageNet-layout folder (`train/<wnid>/*.JPEG`, `val/...`) or to a set written by `tinyalex prepare` to look at real
# photographs instead, and `SIZE, CROP = 256, 224` for the paper's sizes.

# %%
DATA = None             # None: the embedded shapes; or a folder with train/<class>/*.JPEG and val/<class>/..., or
                        # a folder written by `tinyalex prepare`
SIZE, CROP = 73, 64     # the paper: 256, 224

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import facts
from grading import check
from lesson_data import open_splits, training_files
from tinyalex.data import augment
from tinyalex.data.decode import load_rgb_square
from tinyalex.data.loader import DataLoader

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (6, 3.5)})
# photographs: JPEG keeps the notebook small
%config InlineBackend.figure_formats = ["jpeg"]
rng = np.random.default_rng(0)
PHOTOS = sorted(Path("photos").glob("*.jpg"))           # four public-domain photos, see photos/README.md

# %%
listing = training_files(DATA)                            # [(path, class id), ...] of the original images
classes = sorted({wnid for _, wnid in listing})
print(f"{len(listing)} training images in {len(classes)} classes: {', '.join(classes)}")

def show_grid(images, titles=None, cols=8, size=1.4):
    """Show uint8 or float images (H, W, 3) on a grid; floats are clipped to 0..255."""
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.1), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.ravel()[i]
        ax.imshow(np.clip(img, 0, 255).astype(np.uint8))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    plt.show()

# %% [markdown]
# ## 1. Rescale, then crop the centre
#
# The images come in all shapes. Every one is rescaled so that its *shorter* side is `SIZE`, and the central
# `SIZE` x `SIZE` square is kept (what is cut off is the longer side's two ends). Here are the first images of a few
# classes as stored, with their sizes, and after `load_rgb_square`:

# %%
firsts = [next(path for path, wnid in listing if wnid == c) for c in classes[:8]]
originals = [np.asarray(Image.open(p).convert("RGB")) for p in firsts]
if firsts:
    show_grid(originals, [f"{o.shape[1]}x{o.shape[0]}" for o in originals])
    show_grid([load_rgb_square(p, SIZE) for p in firsts], [f"{SIZE}x{SIZE}" for _ in firsts])
else:
    print("the original images of this prepared set are no longer where it was prepared from")

# %% [markdown]
# The same images fill their squares differently: a wide image loses its left and right ends, a tall one its top
# and bottom. Photographs show it better. The four photos in `lessons/photos/` are {{photo_sizes}} (width x
# height); at the paper's 256 the square of a wide one keeps the middle {{kept_low:.1%}} to {{kept_high:.1%}} of its
# width, two thirds:

# %%
photos = [np.asarray(Image.open(p).convert("RGB")) for p in PHOTOS]
show_grid(photos + [load_rgb_square(p, 256) for p in PHOTOS],
          [f"{p.stem} {o.shape[1]}x{o.shape[0]}" for p, o in zip(PHOTOS, photos)] + ["256x256"] * len(PHOTOS),
          cols=len(PHOTOS), size=2.2)
widths = [o.shape[1] * 256 / o.shape[0] for o in photos]                 # each width once the height is 256
wide = [w for w in widths if w > 256]
facts.record(photo_sizes=", ".join(f"{p.stem} {o.shape[1]} x {o.shape[0]}" for p, o in zip(PHOTOS, photos)),
             wide=len(wide), square=[p.stem for p, o in zip(PHOTOS, photos) if o.shape[0] == o.shape[1]],
             kept_low=min(256 / w for w in wide), kept_high=max(256 / w for w in wide),
             cut_low=min((w - 256) / 2 / w for w in wide), cut_high=max((w - 256) / 2 / w for w in wide))

# %% [markdown]
# The {{wide}} wide photos lose {{cut_low:.1%}} to {{cut_high:.1%}} of their width at each side, a sixth (the cat
# loses the outer edges of its ears); the square {{square[0]}} is only rescaled. The paper did nothing more to the pixels: no whitening, no per-image normalisation.
#
# `tinyalex prepare` (here called from Python, by `open_splits` in `lessons/lesson_data.py`) does this once for the
# whole set and stores the squares in one memory-mappable array, together with the training set's mean image and the
# RGB covariance that fancy PCA needs. A set you prepared yourself is opened as it is (rescaled in memory if its
# images are not `SIZE` pixels).

# %%
[train] = open_splits(DATA, SIZE, f"lesson09-{{name}}-{SIZE}", splits=("train",))
print("images:", train.images.shape, train.images.dtype, "| labels:", train.labels.shape, "| classes:", len(train.class_names))
print("class names:", ", ".join(name.split(",")[0] for name in train.class_names))

# %% [markdown]
# ## 2. The mean image
#
# "We did not pre-process the images in any other way, except for subtracting the mean activity over the training
# set from each pixel." The mean image is the pixelwise average of all training squares. The network sees
# `image - mean`, so that its inputs are centred on zero.

# %%
fig, axes = plt.subplots(1, 2, figsize=(6.5, 3))
axes[0].imshow(train.mean.astype(np.uint8))
axes[0].set_title("mean image")
contrast = (train.mean - train.mean.min()) / np.ptp(train.mean)
axes[1].imshow(contrast)
axes[1].set_title("mean image, contrast stretched")
for ax in axes:
    ax.axis("off")
plt.show()
print("mean RGB value:", np.round(train.mean.reshape(-1, 3).mean(axis=0), 1))

# %% [markdown]
# The drawn shapes have random colours everywhere, so their mean is a flat grey; stretched, it shows only the noise
# left by averaging a thousand images. ImageNet's mean image is a smooth brownish blur, a little brighter at the top
# (the sky).
#
# ## 3. Random crops and flips
#
# "We extract random $224 \times 224$ patches (and their horizontal reflections) from the $256 \times 256$ images and
# train our network on these extracted patches. This increases the size of our training set by a factor of 2048."
# There are $32 \times 32$ offsets (the paper counts 32 per axis; $256 - 224 + 1 = 33$ exist) times 2 for the
# mirror image: $32^2 \cdot 2 = 2048$. The patches are highly dependent, of course; the effect is still large:
# without it the network "would have suffered from substantial overfitting". One image, eight random draws:

# %%
image = train.images[0]
crops = augment.random_crop_flip(np.repeat(image[None], 8, axis=0), CROP, rng)
show_grid([image] + list(crops), ["original"] + [f"crop {i + 1}" for i in range(8)], cols=9)

# %% [markdown]
# **Exercise 9.1.** Write `crop_and_flip(image, top, left, crop, flip)`: the `crop` x `crop` patch of an (H, W, 3)
# image whose top-left pixel is (`top`, `left`), mirrored left to right when `flip` is true (a horizontal
# reflection: the columns reversed, not the rows). The check compares with tinyalex's `augment.crop_flip`.

# %%
def crop_and_flip(image, top, left, crop, flip):
    """image[top : top + crop, left : left + crop], reversed left to right if flip."""
    ### BEGIN SOLUTION
    patch = image[top:top + crop, left:left + crop]
    return patch[:, ::-1] if flip else patch
    ### END SOLUTION

# %%
def crop_case(rng):
    """A random image and crop, with top and left different (were they equal, swapping them would go unnoticed)."""
    h, w = rng.integers(9, 16, size=2)
    crop = int(rng.integers(4, min(h, w) - 2))
    top = int(rng.integers(1, h - crop + 1))
    left = int(rng.choice([i for i in range(1, w - crop + 1) if i != top]))
    return dict(image=rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), top=top, left=left, crop=crop, flip=True)

def crop_reference(image, top, left, crop, flip):
    return augment.crop_flip(image[None], np.array([top]), np.array([left]), np.array([flip]), crop)[0]

check(crop_and_flip, crop_reference, cases=crop_case)
check(crop_and_flip, crop_reference, cases=lambda rng: dict(crop_case(rng), flip=False))

# %% [markdown]
# ## 4. Fancy PCA: shifting the colours
#
# The second augmentation changes the intensities of the RGB channels. With $\mathbf{p}_i$ and $\lambda_i$ the
# eigenvectors and eigenvalues of the $3 \times 3$ covariance matrix of all training pixels' RGB values, every
# pixel $I_{xy} = [I^R_{xy}, I^G_{xy}, I^B_{xy}]^T$ of an image gets the same shift
#
# $$ I_{xy} \leftarrow I_{xy} + [\mathbf{p}_1, \mathbf{p}_2, \mathbf{p}_3]\,[\alpha_1 \lambda_1, \alpha_2 \lambda_2, \alpha_3 \lambda_3]^T,
#    \qquad \alpha_i \sim \mathcal{N}(0, 0.1^2), $$
#
# with the $\alpha_i$ drawn once per image, each time it is used. It moves the colour along the directions in which
# natural colours vary most (mostly brightness, then warm/cool), capturing "that object identity is invariant to
# changes in the intensity and color of the illumination"; the paper credits it with over 1% of top-1 error.
#
# The printed formula only makes sense with pixels on the 0..1 scale (with 0..255 pixels the eigenvalues are in the
# thousands and the shift would be too); tinyalex reads it that way: on 0..255 pixels the shift is
# $P(\alpha \odot \lambda)/255$ with $\lambda$ from the 0..255 covariance, the same shift in the 0..1 scale.

# **Exercise 9.2.** Write `fancy_pca(images, eigvals, eigvecs, rng, std, scale)` for a batch of (N, H, W, 3) images:
# draw the $\alpha$s of all images at once with `rng.normal(0.0, std, size=(len(images), 3))` (one row per image, in
# that order, so that the check can draw the same numbers), compute each image's shift
# $[\mathbf{p}_1, \mathbf{p}_2, \mathbf{p}_3]\,[\alpha_1 \lambda_1, \alpha_2 \lambda_2, \alpha_3 \lambda_3]^T / \text{scale}$
# (the eigenvectors are the *columns* of `eigvecs`), and add it to every pixel of that image, returning floats. The
# check compares with tinyalex's `augment.fancy_pca`.

# %%
def fancy_pca(images, eigvals, eigvecs, rng, std, scale):
    """Each image plus its own colour shift P (alpha * lambda) / scale, alpha ~ N(0, std^2) per image."""
    ### BEGIN SOLUTION
    alphas = rng.normal(0.0, std, size=(len(images), 3))
    shifts = (alphas * eigvals) @ eigvecs.T / scale           # row n: P (alpha_n * lambda)
    return images.astype(np.float64) + shifts[:, None, None, :]
    ### END SOLUTION

# %%
def pca_case(rng):
    pixels = rng.standard_normal((500, 3)) @ rng.standard_normal((3, 3)) * 40
    values, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False))
    return dict(images=rng.integers(0, 256, size=(3, 5, 4, 3), dtype=np.uint8), eigvals=values[::-1],
                eigvecs=vectors[:, ::-1], rng=np.random.default_rng(int(rng.integers(1000))), std=0.1, scale=255.0)

def pca_reference(images, eigvals, eigvecs, rng, std, scale):
    return augment.fancy_pca(images.astype(np.float64), eigvals, eigvecs, rng, std=std, scale=scale)

check(fancy_pca, pca_reference, cases=pca_case)

# %% [markdown]
# On the drawn shapes, whose colours are uniformly random, the three eigenvalues are nearly equal and no direction
# dominates:

# %%
print("eigenvalues (0..255 scale):", np.round(train.eigvals, 1))
print("eigenvectors (columns):\n", np.round(train.eigvecs, 3))

# %% [markdown]
# Natural photographs are different. Here are the principal components of the four photos' pixels together:

# %%
pixels = np.concatenate([p.reshape(-1, 3) for p in photos]).astype(np.float64)
values, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False))
values, vectors = values[::-1], vectors[:, ::-1] * np.sign(vectors[:, ::-1].sum(axis=0))    # largest first, p1 positive
print("eigenvalues (0..255 scale):", np.round(values, 1), "| share of the variance:", np.round(values / values.sum(), 3))
print("eigenvectors (columns):\n", np.round(vectors, 3))
grey = np.ones(3) / np.sqrt(3)
facts.record(share_p1=values[0] / values.sum(), share_p2=values[1] / values.sum(),
             p1=str(tuple(np.round(vectors[:, 0], 2).tolist())), shift_p1=0.1 * values[0] / 255,
             p1_angle=np.degrees(np.arccos(vectors[:, 0] @ grey)))

# %% [markdown]
# The first component, {{p1}}, is {{p1_angle:.0f}} degrees from the grey direction $(1, 1, 1)/\sqrt 3$: all three
# channels up or down together, a little more red than blue, so mostly brightness. It holds {{share_p1:.0%}} of the
# variance, the second (blue against red: warm against cool) {{share_p2:.0%}}, the third almost nothing. So on
# photographs fancy PCA mostly brightens and darkens whole images, and tints them a little warmer or cooler: the standard deviation of the shift along $\mathbf p_1$ is $0.1 \lambda_1 / 255 =$
# {{shift_p1:.1f}} intensity levels. With the paper's $\sigma = 0.1$ (second row) the shifts are hard to see; the
# third row uses $\sigma = 1$:

# %%
squares = np.stack([load_rgb_square(p, 128) for p in PHOTOS])
rows = [squares] + [augment.fancy_pca(squares, values, vectors, np.random.default_rng(1), std=std, scale=255)
                    for std in (0.1, 1.0)]
show_grid([image for row in rows for image in row],
          [title for title in ("original", "sigma 0.1", "sigma 1") for _ in PHOTOS], cols=len(PHOTOS), size=2.0)

# %% [markdown]
# ## 5. Ten crops at test time
#
# "At test time, the network makes a prediction by extracting five $224 \times 224$ patches (the four corner
# patches and the center patch) as well as their horizontal reflections (hence ten patches in all), and averaging
# the predictions made by the network's softmax layer on the ten patches."

# %%
tens = augment.ten_crop(load_rgb_square(PHOTOS[0], 256), 224)
names = ["top left", "top right", "bottom left", "bottom right", "centre"]
show_grid(list(tens), names + [f"{n}, flipped" for n in names], cols=5, size=1.6)

# %% [markdown]
# **Exercise 9.3.** Write `ten_crop(image, crop)`: the ten patches of an (H, W, 3) image as one (10, crop, crop, 3)
# array, in the order shown: top-left, top-right, bottom-left, bottom-right, centre, then the same five mirrored left
# to right. The centre patch starts at $\lfloor (H - \text{crop})/2 \rfloor$, $\lfloor (W - \text{crop})/2 \rfloor$.
# The check compares with tinyalex's `augment.ten_crop` on images that are not square.

# %%
def ten_crop(image, crop):
    """The paper's ten test patches of one image: four corners, centre, and their mirror images."""
    ### BEGIN SOLUTION
    h, w = image.shape[:2]
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop), ((h - crop) // 2, (w - crop) // 2)]
    patches = [image[y:y + crop, x:x + crop] for y, x in corners]
    return np.stack(patches + [p[:, ::-1] for p in patches])
    ### END SOLUTION

# %%
def ten_crop_case(rng):
    crop = int(rng.integers(3, 8))
    h, w = crop + rng.choice([3, 5, 7], size=2, replace=False)  # not square, odd margins: the centre is not central
    return dict(image=rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), crop=crop)

check(ten_crop, lambda image, crop: augment.ten_crop(image, crop), cases=ten_crop_case)

# %% [markdown]
# `augment.average_ten_crop` averages the ten softmax outputs of each image; `tinyalex evaluate --ten-crop` does the
# whole thing, at the price of ten forward passes per image instead of one.
#
# ## 6. What the network receives
#
# The `DataLoader` puts it together: for each training batch a random crop and flip per image, a fancy-PCA shift,
# the mean subtracted (cut and flipped like the crop), as float32 `(N, 3, CROP, CROP)`, built in background
# threads while the network computes. Every random choice of epoch $e$, batch $b$ comes from a generator seeded
# with `(seed, e, b)`, so a run is reproducible.

# %%
loader = DataLoader(train, batch_size=16, train=True, crop=CROP, seed=0, workers=1)
x, y = next(iter(loader))
print("x:", x.shape, x.dtype, " y:", y.shape, y.dtype)
print(f"pixel values: mean {x.mean():.1f}, min {x.min():.1f}, max {x.max():.1f}")
mean_crop = augment.center_crop(train.mean, CROP).astype(np.float32)
shown = [x[i].transpose(1, 2, 0) + mean_crop for i in range(8)]      # add a mean back to look at them
show_grid(shown, [train.class_names[c].split(",")[0] for c in y[:8]])

# %% [markdown]
# (Adding the centre crop of the mean back is only for display: the mean subtracted was cut at each crop's own
# offset, so the pictures are faintly off where the mean image is not flat.)
#
# ## Questions
#
# 1. How many distinct crops and flips does the loader draw from at `SIZE, CROP = 73, 64`? And at the paper's
#    256 and 224, counting every possible offset?
# 2. Compute the eigenvalues and eigenvectors yourself from a sample of training pixels (`np.cov`,
#    `np.linalg.eigh`) and compare them with `train.eigvals`, `train.eigvecs`.
# 3. Why is fancy PCA applied *per image* (one $\alpha$ for all its pixels) rather than per pixel?
#
# The answers are in the collapsed cell below.

# %% [solution]
print(f"1. {(SIZE - CROP + 1) ** 2 * 2} at {SIZE}/{CROP}; {(256 - 224 + 1) ** 2 * 2} at 256/224"
      " (the paper's 2048 counts 32 offsets per axis)")

pixels = train.images.reshape(-1, 3).astype(np.float64)
values, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False))
order = values.argsort()[::-1]
values, vectors = values[order], vectors[:, order]
signs = np.sign((vectors * train.eigvecs).sum(axis=0))         # an eigenvector's sign is arbitrary
print("2. eigenvalues equal:", np.allclose(values, train.eigvals, rtol=1e-6),
      "| eigenvectors equal up to sign:", np.allclose(vectors * signs, train.eigvecs, atol=1e-6))
print("3. It imitates a change of illumination, which tints the whole scene at once; per-pixel shifts would be"
      " coloured noise, a different (and unrealistic) augmentation.")

# %% [markdown]
# ## The numbers quoted in this lesson

# %%
facts.show()
