"""The data pipeline: find images (two layouts), prepare a reduced subset, augment, load batches."""
from tinyalex.data.augment import (average_ten_crop, center_crop, crop_flip, crop_params, crop_to_nchw, fancy_pca,
                                   pca_shifts, random_crop_flip, subtract_mean, ten_crop, ten_crop_params)
from tinyalex.data.dataset import FolderDataset, PreparedDataset
from tinyalex.data.decode import load_rgb_square
from tinyalex.data.errors import BadImageError, DataError
from tinyalex.data.layouts import find_split, read_class_names
from tinyalex.data.loader import DataLoader
from tinyalex.data.prepare import PrepareReport, prepare
from tinyalex.data.stats import image_statistics, principal_components
from tinyalex.data.synthetic import default_root, ensure_default_dataset

__all__ = [
    "BadImageError", "DataError", "DataLoader", "FolderDataset", "PrepareReport", "PreparedDataset",
    "average_ten_crop", "center_crop", "crop_flip", "crop_params", "crop_to_nchw", "default_root",
    "ensure_default_dataset", "fancy_pca", "find_split", "image_statistics", "load_rgb_square",
    "pca_shifts", "prepare", "principal_components", "random_crop_flip", "read_class_names",
    "subtract_mean", "ten_crop", "ten_crop_params",
]
