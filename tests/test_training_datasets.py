"""Opening a run's data: a prepared set whose images are far larger than the crops is warned about."""
import warnings

import pytest

from data_fixtures import make_folder_layout
from tinyalex.data.prepare import prepare
from tinyalex.training.datasets import open_datasets


@pytest.fixture(scope="module")
def prepared_40(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_folder_layout(root / "src", train_per_class=2, val_per_class=1, all_modes=False)
    prepare(root / "src", root / "prepared", size=40, progress=False)
    return root / "prepared"


def test_crops_that_see_a_small_part_of_each_image_are_warned_about(prepared_40):
    """`--model small` (64 px crops) on a set prepared at 256 trained on patches of a quarter of each side, silently."""
    with pytest.warns(UserWarning, match=r"holds 40x40 images: 16x16 crops see only 40% of an image's side "
                                         r"\(the paper's 224 of 256: 88%\); prepare it with --size 18 for this crop"):
        open_datasets(prepared_40, 16, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_datasets(prepared_40, 32, progress=False)  # 80%: near the paper's share, nothing to say


def test_images_too_small_for_the_crops_say_what_size_to_prepare_and_which_net_fits(prepared_40, tmp_path):
    from tinyalex.data.errors import DataError

    with pytest.raises(DataError, match=r"holds 40x40 images, too small for 64x64 crops: prepare the images with "
                                        r"--size 73$"):
        open_datasets(prepared_40, 64, progress=False)
    make_folder_layout(tmp_path / "src", train_per_class=1, val_per_class=1, all_modes=False)
    prepare(tmp_path / "src", tmp_path / "prepared", size=73, progress=False)
    with pytest.raises(DataError, match=r"too small for 224x224 crops: prepare the images with --size 256; "
                                        r"--model small trains on 64x64 crops"):
        open_datasets(tmp_path / "prepared", 224, progress=False)
