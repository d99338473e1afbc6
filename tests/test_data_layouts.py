"""Finding images and labels in the folder layout and in the raw ILSVRC-2012 validation layout."""
from __future__ import annotations

import pytest

from data_fixtures import META_MAT, NAMES, WNIDS, make_flat_val, make_folder_layout, uncompressed_mat, write_image
from tinyalex.data import DataError, find_split, read_class_names
from tinyalex.data.matfile import read_devkit_synsets, read_mat


def test_folder_layout_lists_every_file_with_its_class(tmp_path):
    make_folder_layout(tmp_path, train_per_class=3, val_per_class=1, all_modes=False)
    (tmp_path / "train" / WNIDS[0] / ".DS_Store").write_text("hidden")
    (tmp_path / "train" / "README.txt").write_text("loose file")
    skipped = []
    items = find_split(tmp_path, "train", skipped)
    assert [w for _, w in items] == [w for w in WNIDS for _ in range(3)]
    assert all(path.parent.name == wnid for path, wnid in items)
    assert skipped == [(str(tmp_path / "train" / "README.txt"), "not inside a class folder")]


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    make_folder_layout(tmp_path, train_per_class=1, val_per_class=1, all_modes=False)
    (tmp_path / "train" / "n09999999").mkdir()
    with pytest.raises(DataError, match="n09999999"):
        find_split(tmp_path, "train")


def test_missing_split_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no 'val' folder"):
        find_split(tmp_path, "val")


@pytest.mark.parametrize("kind", ["loc", "devkit"])
def test_flat_validation_folder_gets_labels_from_the_label_file(tmp_path, kind):
    labels = ["n02119789", "n01440764", "n02100735", "n01440764"]
    paths = make_flat_val(tmp_path, labels, kind)
    write_image(tmp_path / "val" / "extra.JPEG", "RGB", (40, 40), 9)
    skipped = []
    items = find_split(tmp_path, "val", skipped)
    assert sorted((str(p), w) for p, w in items) == sorted((str(p), w) for p, w in zip(paths, labels))
    assert [w for _, w in items] == sorted(labels)
    assert skipped == [(str(tmp_path / "val" / "extra.JPEG"), "no label for this file in the label file")]


def test_flat_folder_without_label_file_says_what_it_needs(tmp_path):
    write_image(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", "RGB", (40, 40), 9)
    with pytest.raises(DataError, match="LOC_val_solution.csv or ILSVRC2012_validation_ground_truth.txt"):
        find_split(tmp_path, "val")


def test_devkit_ground_truth_without_meta_is_an_error(tmp_path):
    make_flat_val(tmp_path, ["n01440764"], "devkit")
    (tmp_path / "ILSVRC2012_devkit_t12" / "data" / "meta.mat").unlink()
    with pytest.raises(DataError, match="meta.mat"):
        find_split(tmp_path, "val")


def test_devkit_id_out_of_range_names_the_line(tmp_path):
    make_flat_val(tmp_path, ["n01440764", "n02100735"], "devkit")
    (tmp_path / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text("3\n77\n")
    with pytest.raises(DataError, match="line 2"):
        find_split(tmp_path, "val")


@pytest.mark.parametrize("compressed", [True, False])
def test_meta_mat_reader_reads_scipy_written_struct(tmp_path, compressed):
    path = tmp_path / "meta.mat"
    path.write_bytes(META_MAT if compressed else uncompressed_mat(META_MAT))
    synsets = read_mat(path)["synsets"]
    assert [s["WNID"] for s in synsets] == ["n02119789", "n02100735", "n01440764", "n00001740"]
    assert synsets[0]["words"] == "kit fox, Vulpes macrotis"
    assert synsets[3]["children"].ravel().tolist() == [1, 2, 3]
    assert read_devkit_synsets(path) == {1: "n02119789", 2: "n02100735", 3: "n01440764", 4: "n00001740"}


def test_damaged_meta_mat_is_a_data_error(tmp_path):
    path = tmp_path / "meta.mat"
    path.write_bytes(META_MAT[:200])
    with pytest.raises(DataError, match="meta.mat"):
        read_mat(path)


@pytest.mark.parametrize("names_file", ["synset_words.txt", "LOC_synset_mapping.txt"])
def test_class_names_come_from_the_mapping_file(tmp_path, names_file):
    make_folder_layout(tmp_path, 1, 1, all_modes=False, names_file=names_file)
    assert read_class_names(tmp_path, WNIDS) == NAMES


def test_class_names_fall_back_to_the_ilsvrc_table_then_to_the_folder_names(tmp_path):
    make_folder_layout(tmp_path / "data", 1, 1, all_modes=False, names_file=None)
    assert read_class_names(tmp_path / "data", WNIDS) == NAMES  # ImageNet wnids: the shipped table
    assert read_class_names(tmp_path / "data", ["n03417042", "cats"]) == {"n03417042": "garbage truck, dustcart",
                                                                        "cats": "cats"}


def test_symbolic_link_loops_broken_links_and_subfolders_are_reported(tmp_path):
    make_folder_layout(tmp_path, train_per_class=2, val_per_class=1, all_modes=False)
    cls = tmp_path / "train" / WNIDS[0]
    (cls / "loop.JPEG").symlink_to(cls / "loop.JPEG")
    (cls / "gone.JPEG").symlink_to(tmp_path / "nowhere.JPEG")
    (cls / "more").mkdir()
    (tmp_path / "train" / "cycle").symlink_to(tmp_path / "train" / "cycle")
    skipped = []
    items = find_split(tmp_path, "train", skipped)
    assert len(items) == 2 * len(WNIDS)
    assert dict(skipped) == {
        str(cls / "gone.JPEG"): f"broken symbolic link (to {tmp_path / 'nowhere.JPEG'})",
        str(cls / "loop.JPEG"): "symbolic link loop",
        str(cls / "more"): "a folder inside a class folder (class folders are not searched recursively)",
        str(tmp_path / "train" / "cycle"): "symbolic link loop",
    }


def test_symbolic_link_loops_in_a_flat_folder_are_reported(tmp_path):
    make_flat_val(tmp_path, ["n01440764", "n02100735"], "loc")
    (tmp_path / "val" / "loop.JPEG").symlink_to(tmp_path / "val" / "loop.JPEG")
    skipped = []
    assert len(find_split(tmp_path, "val", skipped)) == 2
    assert skipped == [(str(tmp_path / "val" / "loop.JPEG"), "symbolic link loop")]


def test_kaggle_layout_finds_labels_at_the_competition_root(tmp_path):
    src = tmp_path / "ILSVRC" / "Data" / "CLS-LOC"
    make_flat_val(src, ["n02100735", "n01440764"], "loc")
    (src / "LOC_val_solution.csv").rename(tmp_path / "LOC_val_solution.csv")
    (tmp_path / "LOC_synset_mapping.txt").write_text("n01440764 tench, Tinca tinca\n")
    assert [w for _, w in find_split(src, "val")] == ["n01440764", "n02100735"]
    assert read_class_names(src, ["n01440764"]) == {"n01440764": "tench, Tinca tinca"}
