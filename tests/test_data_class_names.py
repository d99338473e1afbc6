"""Class names, not WordNet ids: the shipped ILSVRC-2012 table, and where names are shown."""
import numpy as np
from data_fixtures import NAMES, WNIDS, make_folder_layout
from PIL import Image
from training_helpers import tiny_alexnet

from tinyalex.cli.main import main
from tinyalex.data import PreparedDataset, prepare
from tinyalex.data.class_names import display_names, ilsvrc_class_names
from tinyalex.experiments.confusion import plot_confusion
from tinyalex.experiments.neighbours import plot_neighbours
from tinyalex.training.checkpoint import save_checkpoint

GARBAGE_TRUCK = "n03417042"


def test_the_table_names_the_1000_ilsvrc_2012_classes():
    table = ilsvrc_class_names()
    assert len(table) == 1000 and list(table) == sorted(table)
    assert all(w.startswith("n") and len(w) == 9 and name for w, name in table.items())
    assert table[GARBAGE_TRUCK] == "garbage truck, dustcart" and table["n01440764"] == "tench, Tinca tinca"
    assert table["n15075141"] == "toilet tissue, toilet paper, bathroom tissue"  # the last line
    assert {w: table[w] for w in WNIDS} == NAMES


def test_a_data_sets_own_names_come_first_and_unknown_ids_stay():
    assert display_names([GARBAGE_TRUCK, "n01440764", "cats"], [GARBAGE_TRUCK, "my tench", "cats"]) == [
        "garbage truck, dustcart", "my tench", "cats"]
    assert display_names([GARBAGE_TRUCK]) == ["garbage truck, dustcart"]


def test_predict_shows_names_even_for_a_checkpoint_that_saved_only_ids(tmp_path, capsys):
    wnids = [GARBAGE_TRUCK, *WNIDS]
    model = tiny_alexnet()
    info = {"wnids": wnids, "class_names": wnids, "size": 36, "crop": 32}  # as written before names were looked up
    path = save_checkpoint(tmp_path / "old.npz", model.state_dict(), {}, {"model": model.config, "epoch": 1,
                                                                          "data": info}, np.zeros((36, 36, 3)))
    Image.new("RGB", (40, 50), (90, 120, 30)).save(tmp_path / "photo.png")
    assert main(["predict", str(path), str(tmp_path / "photo.png"), "--top", "4"]) == 0
    shown = {line.split("%", 1)[1].strip() for line in capsys.readouterr().out.splitlines()[1:]}
    assert shown == {f"{name} ({w})" for w, name in [(GARBAGE_TRUCK, "garbage truck, dustcart"), *NAMES.items()]}


def test_confusion_matrix_and_neighbours_figure_show_names_for_a_set_without_a_names_file(tmp_path):
    root = make_folder_layout(tmp_path / "src", 1, 1, all_modes=False, names_file=None)  # like Imagewoof
    prepare(root, tmp_path / "out", size=12, progress=False)
    names = PreparedDataset(tmp_path / "out", "val").class_names
    assert names == [NAMES[w] for w in WNIDS]
    ax = plot_confusion(np.eye(3, dtype=np.int64), names).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["tench", "English setter", "kit fox"]
    images = np.zeros((1, 8, 8, 3), np.uint8)
    fig = plot_neighbours(images, images[:, None], [names[0]], [[names[2]]])
    assert [ax.get_title() for ax in fig.axes] == ["tench", "kit fox"]
