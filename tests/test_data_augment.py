"""The paper's augmentation (section 4.1) and test-time crops (section 4.1, last paragraph)."""
from __future__ import annotations

import numpy as np
import pytest

from tinyalex.data import (average_ten_crop, center_crop, crop_flip, crop_params, crop_to_nchw, fancy_pca,
                           pca_shifts, random_crop_flip, subtract_mean, ten_crop, ten_crop_params)


def numbered(n=2, h=9, w=11, c=3):
    """Images whose every value is distinct, so a crop's position can be read back."""
    return np.arange(n * h * w * c, dtype=np.int64).reshape(n, h, w, c)


def locate(crop, image):
    """(top, left, flipped) of ``crop`` inside ``image``, or None."""
    size = crop.shape[0]
    for flipped in (False, True):
        patch = crop[:, ::-1] if flipped else crop
        first = np.argwhere(image == patch[0, 0])
        if len(first):
            y, x, _ = first[0]
            if np.array_equal(image[y:y + size, x:x + size], patch):
                return int(y), int(x), flipped
    return None


def test_ten_crop_positions_order_and_flips():
    image = numbered(1)[0]
    crops = ten_crop(image, 5)
    assert crops.shape == (10, 5, 5, 3)
    # 9 x 11 image, crop 5: corners at rows 0 / 4 and columns 0 / 6, centre at (2, 3).
    expected = [(0, 0), (0, 6), (4, 0), (4, 6), (2, 3)]
    for k, (y, x) in enumerate(expected):
        np.testing.assert_array_equal(crops[k], image[y:y + 5, x:x + 5])
        np.testing.assert_array_equal(crops[k + 5], image[y:y + 5, x:x + 5][:, ::-1])
    batch = ten_crop(numbered(3), 5)
    assert batch.shape == (3, 10, 5, 5, 3)
    np.testing.assert_array_equal(batch[2], ten_crop(numbered(3)[2], 5))


def test_center_crop_is_the_middle_patch():
    images = numbered(2)
    np.testing.assert_array_equal(center_crop(images, 5), images[:, 2:7, 3:8])
    np.testing.assert_array_equal(center_crop(images[1], 9), images[1, :, 1:10])
    with pytest.raises(ValueError, match="does not fit"):
        center_crop(images, 10)


def test_random_crops_cover_every_position_and_flip_half_the_time():
    images = numbered(400)
    crops = random_crop_flip(images, 5, np.random.default_rng(0))
    found = [locate(c, img) for c, img in zip(crops, images)]
    assert None not in found
    assert {(y, x) for y, x, _ in found} == {(y, x) for y in range(5) for x in range(7)}
    flips = sum(f for _, _, f in found)
    assert 150 < flips < 250
    unflipped = random_crop_flip(images, 5, np.random.default_rng(0), flip=False)
    assert not any(locate(c, img)[2] for c, img in zip(unflipped, images))


def test_random_crop_is_determined_by_the_seed():
    images = numbered(8)
    a = random_crop_flip(images, 4, np.random.default_rng(7))
    b = random_crop_flip(images, 4, np.random.default_rng(7))
    c = random_crop_flip(images, 4, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert random_crop_flip(images[0], 4, np.random.default_rng(7)).shape == (4, 4, 3)


def test_crop_flip_applies_given_offsets():
    images = numbered(2)
    out = crop_flip(images, np.array([1, 4]), np.array([6, 0]), np.array([True, False]), 5)
    np.testing.assert_array_equal(out[0], images[0, 1:6, 6:11, :][:, ::-1])
    np.testing.assert_array_equal(out[1], images[1, 4:9, 0:5])
    ys, xs, flips = crop_params(1000, (9, 11), 5, np.random.default_rng(1))
    assert ys.min() == 0 and ys.max() == 4 and xs.min() == 0 and xs.max() == 6 and flips.dtype == bool


def test_fancy_pca_adds_the_papers_colour_shift():
    rng = np.random.default_rng(3)
    batch = rng.uniform(0, 1, size=(4, 6, 5, 3))
    eigvecs, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    eigvals = np.array([0.2, 0.02, 0.005])
    out = fancy_pca(batch, eigvals, eigvecs, np.random.default_rng(11), std=0.1)
    alphas = np.random.default_rng(11).normal(0, 0.1, size=(4, 3))
    for n in range(4):
        # [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T added to every pixel of image n
        shift = sum(eigvecs[:, i] * alphas[n, i] * eigvals[i] for i in range(3))
        np.testing.assert_allclose(out[n] - batch[n], np.broadcast_to(shift, (6, 5, 3)), atol=1e-12)


def test_fancy_pca_on_0_255_pixels_equals_the_formula_on_0_1():
    rng = np.random.default_rng(4)
    batch = rng.uniform(0, 255, size=(3, 4, 4, 3))
    eigvecs, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    eigvals_255 = np.array([9000.0, 700.0, 150.0])
    on_255 = fancy_pca(batch, eigvals_255, eigvecs, np.random.default_rng(5), scale=255.0)
    on_1 = fancy_pca(batch / 255, eigvals_255 / 255 ** 2, eigvecs, np.random.default_rng(5))
    np.testing.assert_allclose(on_255, on_1 * 255, atol=1e-9)
    assert fancy_pca(batch.astype(np.uint8), eigvals_255, eigvecs, np.random.default_rng(5)).dtype == np.float32


def test_average_ten_crop_and_mean_subtraction():
    outputs = np.arange(2 * 10 * 4, dtype=np.float64).reshape(20, 4)
    np.testing.assert_allclose(average_ten_crop(outputs), [outputs[:10].mean(0), outputs[10:].mean(0)])
    images = numbered(2).astype(np.uint8)
    mean = np.full(images.shape[1:], 2.5)
    out = subtract_mean(images, mean)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, images - 2.5)


def test_fused_crop_equals_crop_then_mean_then_pca_then_transpose():
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, size=(3, 9, 11, 3), dtype=np.uint8)
    mean = rng.uniform(0, 255, size=(9, 11, 3))
    eigvecs, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    eigvals = np.array([5000.0, 400.0, 80.0])
    ys, xs, flips = crop_params(3, (9, 11), 5, np.random.default_rng(1))
    shifts = pca_shifts(3, eigvals, eigvecs, np.random.default_rng(2), scale=255.0)
    fused = crop_to_nchw(images, ys, xs, flips, 5, mean.astype(np.float32).transpose(2, 0, 1), shifts)
    step = subtract_mean(crop_flip(images, ys, xs, flips, 5), crop_flip(np.broadcast_to(mean, images.shape),
                                                                         ys, xs, flips, 5))
    step = fancy_pca(step, eigvals, eigvecs, np.random.default_rng(2), scale=255.0)
    np.testing.assert_allclose(fused, step.transpose(0, 3, 1, 2), atol=1e-3)
    tys, txs, tflips = ten_crop_params((9, 11), 5)
    source = np.repeat(np.arange(3), 10)
    tens = crop_to_nchw(images, np.tile(tys, 3), np.tile(txs, 3), np.tile(tflips, 3), 5, source=source)
    np.testing.assert_array_equal(tens.reshape(3, 10, 3, 5, 5), ten_crop(images, 5).transpose(0, 1, 4, 2, 3))
