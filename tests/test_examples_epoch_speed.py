"""examples/epoch_speed.py: each framework trains on the same prepared batches in its own process and reports."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data_fixtures import make_folder_layout
from tinyalex.data import prepare

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "epoch_speed.py"


def test_both_frameworks_train_a_few_batches_and_the_ratio_is_printed(tmp_path):
    pytest.importorskip("torch")
    make_folder_layout(tmp_path / "raw", train_per_class=8, val_per_class=1)
    prepare(tmp_path / "raw", tmp_path / "prepared", size=73, progress=False)
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "prepared"), "--rounds", "2", "--batch-size", "4",
                           "--max-batches", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0].split()[-1] for line in lines[:4]] == ["tinyalex", "torch", "tinyalex", "torch"]  # A B A B
    assert all(re.search(r": 8 images in [\d.]+ s", line) for line in lines[:4])  # 2 timed batches of 4 after warm-up
    assert re.fullmatch(r"median epoch: tinyalex [\d.]+ s, PyTorch [\d.]+ s; ratio .* [\d.]+x \([\d.]+-[\d.]+ over 2 rounds\)",
                        lines[4])
