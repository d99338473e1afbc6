"""Decode any image file to the paper's input: RGB, shorter side rescaled, centre square.

Section 2 of the paper: "we down-sampled the images to a fixed resolution of 256 x 256.
Given a rectangular image, we first rescaled the image such that the shorter side was of
length 256, and then cropped out the central 256 x 256 patch". ``size`` replaces 256 so that
CPU-sized runs can prepare smaller images.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps

from tinyalex.data.errors import BadImageError

# Pillow's antialiased bicubic filter: the kernel widens with the reduction factor.
RESAMPLE = Image.Resampling.BICUBIC
ORIENTATION = 0x0112  # the EXIF tag saying how the camera was held


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert every Pillow mode to 8-bit RGB.

    16- and 32-bit integer greys ("I;16", "I") are scaled from 0..65535 to 0..255 (Pillow's
    own convert would clip them); float greys ("F") are clipped to 0..255; modes with alpha
    or a palette drop the alpha channel after expanding the palette.
    """
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":
        values = np.asarray(img, dtype=np.float64)
        if img.mode != "F":
            values = values / 257.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if img.mode == "P" or img.mode == "PA":
        img = img.convert("RGBA")
    return img.convert("RGB")


def rescale_crop(img: Image.Image, size: int, original: tuple[int, int] | None = None) -> Image.Image:
    """Rescale so the shorter side is ``size``, then cut out the central size x size square.

    ``original`` is the (width, height) the image had before a reduced decode: the rescaled image keeps
    its proportions (a reduced decode rounds each side up on its own)."""
    w, h = original or img.size
    short = min(w, h)
    nw, nh = max(size, round(w * size / short)), max(size, round(h * size / short))
    if (nw, nh) != img.size:
        img = img.resize((nw, nh), RESAMPLE)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


def load_rgb_square(path: str | os.PathLike, size: int = 256) -> np.ndarray:
    """Decode ``path`` into a (size, size, 3) uint8 array; raise BadImageError if unreadable.

    JPEGs are decoded at a reduced DCT scale when they are more than twice the target
    (Pillow's ``draft``, as ``Image.thumbnail`` does), then resized with the antialiased filter.
    A photo whose EXIF orientation tag says it was taken sideways is turned upright first, as
    image viewers (and OpenCV's imread) show it; torchvision's default loader does not.
    Images up to twice Pillow's ``Image.MAX_IMAGE_PIXELS`` are decoded, as Pillow itself allows.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # a big photo; only the error refuses
            with Image.open(path) as img:
                w, h = img.size
                if w < 1 or h < 1:
                    raise BadImageError(path, f"image has no pixels ({w}x{h})")
                scale = size / min(w, h)
                img.draft(None, (int(w * scale * 2), int(h * scale * 2)))
                img.load()
                turned = img.getexif().get(ORIENTATION) in (5, 6, 7, 8)  # exif_transpose turns these by 90 degrees
                out = rescale_crop(to_rgb(ImageOps.exif_transpose(img)), size, (h, w) if turned else (w, h))
                return np.asarray(out, dtype=np.uint8)
    except BadImageError:
        raise
    except FileNotFoundError:
        raise BadImageError(path, "file does not exist") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        reason = str(exc) or type(exc).__name__
        raise BadImageError(path, f"not a readable image ({reason})") from None
