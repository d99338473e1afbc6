"""Names of the 1,000 ILSVRC-2012 classes, so that people read "garbage truck" where the data says n03417042.

``ilsvrc2012_classes.txt`` holds one ``<wnid> <words>`` line per class, sorted by wnid: the
classification classes of the ILSVRC-2012 development kit, each with its WordNet synonyms, in the
table that Caffe's ``data/ilsvrc12/get_ilsvrc_aux.sh`` downloads as ``synset_words.txt`` and that
Kaggle's ImageNet challenge ships as ``LOC_synset_mapping.txt``. This copy is the one in
github.com/Jack-An/TorchDemo (``synset_words.txt``, a stray ``|`` at each line's end removed),
compared line by line with two other public copies (JasmineLi-805/res18 and
dylan-berndt/PCAFormer ``LOC_synset_mapping.txt``): they agree on all 1,000 wnids and all words,
except that each renamed the duplicate names "crane" (bird and machine) and "maillot" to tell them apart.

A data set's own names (a ``synset_words.txt`` beside the images, or the ``classes.json`` of a
prepared set) come first; this table fills in the wnids that have no name of their own.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

TABLE = "ilsvrc2012_classes.txt"


@lru_cache(maxsize=1)
def ilsvrc_class_names() -> dict[str, str]:
    """wnid -> words for the 1,000 ILSVRC-2012 classes, e.g. "n01440764" -> "tench, Tinca tinca"."""
    text = resources.files("tinyalex.data").joinpath(TABLE).read_text(encoding="utf-8")
    return dict(line.split(" ", 1) for line in text.splitlines() if line)


def display_names(wnids: Sequence[str], names: Sequence[str] | None = None) -> list[str]:
    """The name to show for each wnid: its own name from ``names`` when it has one (one that is not
    just the wnid again), else the ILSVRC-2012 name, else the wnid (a folder called "cats" stays "cats")."""
    table = ilsvrc_class_names()
    own = list(names) if names is not None else list(wnids)
    return [name if name and name != wnid else table.get(wnid, wnid) for wnid, name in zip(wnids, own)]
