"""Decoding every image mode to RGB, and the paper's shorter-side rescale plus centre crop."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from data_fixtures import MODES, expected_level, write_broken, write_image
from tinyalex.data import BadImageError, load_rgb_square


@pytest.mark.parametrize("suffix,mode", MODES)
def test_every_mode_becomes_rgb_with_its_grey_level(tmp_path, suffix, mode):
    path = write_image(tmp_path / f"img{suffix}", mode, (70, 45), 130)
    out = load_rgb_square(path, size=32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - expected_level(mode, 130)).max() <= 1


def test_alpha_is_dropped_not_blended(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (40, 40), (200, 10, 10, 0)).save(path)
    assert (load_rgb_square(path, 16) == (200, 10, 10)).all()


@pytest.mark.parametrize("wide", [True, False])
def test_shorter_side_rescaled_then_centre_cropped(tmp_path, wide):
    # 200 x 100 -> 128 x 64 at size 64; the crop keeps original columns 50..150.
    # A 2-px red line at original columns 60-61 lands at crop column (61 * 0.64) - 32 = 7.
    img = np.full((100, 200, 3), 90, dtype=np.uint8)
    img[:, 60:62] = (255, 0, 0)
    img[:, 40:42] = (0, 0, 255)  # outside the crop: must be cut away
    if not wide:
        img = img.transpose(1, 0, 2).copy()
    path = tmp_path / "line.png"
    Image.fromarray(img).save(path)
    out = load_rgb_square(path, size=64).astype(int)
    profile = out[:, :, 0] - out[:, :, 2]
    profile = profile.mean(axis=0) if wide else profile.mean(axis=1)
    assert abs(int(np.argmax(profile)) - 7) <= 1
    assert out[..., 2].max() <= 100  # no trace of the blue line


def test_image_already_at_size_is_unchanged(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    np.testing.assert_array_equal(load_rgb_square(tmp_path / "x.png", 48), pixels)


def test_large_jpeg_uses_reduced_decoding_but_keeps_content(tmp_path):
    img = np.zeros((800, 1200, 3), dtype=np.uint8)
    img[:, 600:] = 255  # right half white: in the 32 x 32 result, columns >= 16 are white
    Image.fromarray(img).save(tmp_path / "big.JPEG", quality=95)
    out = load_rgb_square(tmp_path / "big.JPEG", 32).astype(int)
    assert out[:, :15].max() < 30 and out[:, 17:].min() > 225


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_reduced_decode_keeps_the_photos_proportions(tmp_path, monkeypatch, orientation):
    """1600 x 1665 decodes at half scale to 800 x 833 (each side rounded up): rescaled from that it became 256 x 267,
    a vertical stretch; from the photo's own size it is 256 x 266. A photo stored sideways (tag 6) turns first."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = (1600, 1665) if orientation == 1 else (1665, 1600)
    Image.new("RGB", stored, (90, 120, 150)).save(tmp_path / "big.jpg", exif=exif, quality=90)
    asked, resize = [], Image.Image.resize
    monkeypatch.setattr(Image.Image, "resize", lambda img, size, *a, **k: asked.append(size) or resize(img, size, *a, **k))
    assert load_rgb_square(tmp_path / "big.jpg", 256).shape == (256, 256, 3)
    assert asked == [(256, 266)]


def test_broken_files_raise_bad_image_error_naming_the_file(tmp_path):
    for path in [*write_broken(tmp_path), tmp_path / "missing.JPEG"]:
        with pytest.raises(BadImageError, match=path.name):
            load_rgb_square(path, 32)


@pytest.mark.parametrize("orientation, turn", [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90),
                                               (8, Image.Transpose.ROTATE_270)])
def test_a_sideways_photo_is_turned_upright_by_its_exif_tag(tmp_path, orientation, turn):
    upright = np.zeros((200, 300, 3), np.uint8)
    upright[:100, :, 0] = 255  # red on top, blue below, as a viewer shows the photo
    upright[100:, :, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation  # the camera stored the pixels turned and said so in the tag
    Image.fromarray(upright).transpose(turn).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    x = load_rgb_square(tmp_path / "phone.jpg", 64)
    assert x[4, 32, 0] > 200 and x[4, 32, 2] < 50, x[4, 32]  # red at the top
    assert x[-4, 32, 2] > 200 and x[-4, 32, 0] < 50, x[-4, 32]  # blue at the bottom


def test_big_photos_decode_up_to_twice_pillows_pixel_limit(tmp_path, monkeypatch):
    """Pillow warns above MAX_IMAGE_PIXELS and refuses above twice it; a 95-megapixel photo once was 'not readable'."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    Image.new("RGB", (40, 40), (9, 99, 199)).save(tmp_path / "big.png")  # 1,600 pixels: over the limit, under twice
    Image.new("RGB", (50, 50)).save(tmp_path / "bomb.png")  # 2,500 pixels
    assert tuple(load_rgb_square(tmp_path / "big.png", 16)[8, 8]) == (9, 99, 199)
    with pytest.raises(BadImageError, match="bomb.png.*not a readable image"):
        load_rgb_square(tmp_path / "bomb.png", 16)
