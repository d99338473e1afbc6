"""An ablation killed midway (SIGKILL: nothing is saved on the way out) continues where it stopped when run
again: finished runs are skipped, the killed one resumes from its last checkpoint, and the results equal
an uninterrupted ablation's."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from experiments_helpers import shapes_folder, tiny_config
from tinyalex.experiments import run_ablation

TESTS = Path(__file__).parent
SETTINGS = {"seeds": 2, "epochs": 2}
VARIANTS = ["lrn_gain"]  # with the baseline: the gain control's measured gains must survive the kill too


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return shapes_folder(tmp_path_factory.mktemp("shapes"))


def kill_midway(folder, out, kill="lrn_gain/seed1", epoch=1):
    """Run the ablation in a child process that SIGKILLs itself once ``kill`` has saved ``epoch``."""
    code = ("import sys; from pathlib import Path; from experiments_helpers import ablate_until_killed; "
            f"ablate_until_killed(Path(sys.argv[1]), Path(sys.argv[2]), {VARIANTS!r}, {kill!r}, {epoch}, "
            f"**{SETTINGS!r})")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code, str(folder), str(out)], env=env, capture_output=True,
                          text=True, timeout=300)


def comparable(result):
    """A run's result without what depends on the clock or the folder."""
    history = [{k: v for k, v in r.items() if "seconds" not in k and k != "images_per_s"} for r in result["history"]]
    skip = {"seconds", "checkpoint", "history"}
    return {**{k: v for k, v in result.items() if k not in skip}, "history": history}


def test_a_killed_ablation_resumes_skips_finished_runs_and_ends_as_an_uninterrupted_one(folder, tmp_path):
    out = tmp_path / "killed"
    child = kill_midway(folder, out)
    assert child.returncode == -signal.SIGKILL, child.stderr
    killed = out / "lrn_gain" / "seed1"
    finished = [out / name / f"seed{s}" / "result.json" for name in ("baseline", "lrn_gain") for s in (0, 1)]
    assert [p.is_file() for p in finished] == [True, True, True, False]  # seed 1 of lrn_gain died after epoch 1
    assert (killed / "last.npz").is_file() and (killed / "lrn_gain.json").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in finished[:3]}

    again = run_ablation(out, VARIANTS, tiny_config(folder, **SETTINGS), progress=False)
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in stamps.items())  # finished runs were read, not rerun
    assert "resumed after epoch 1" in (killed / "train.log").read_text()

    reference = run_ablation(tmp_path / "whole", VARIANTS, tiny_config(folder, **SETTINGS), progress=False)
    for name in ("baseline", "lrn_gain"):
        for seed in (0, 1):
            resumed, whole = (json.loads((root / name / f"seed{seed}" / "result.json").read_text())
                              for root in (out, tmp_path / "whole"))
            assert comparable(resumed) == comparable(whole), (name, seed)
    for name, entry in again["variants"].items():
        for metric in ("top1_error", "top5_error", "top1_error_ten_crop", "top5_error_ten_crop"):
            assert entry[metric] == reference["variants"][name][metric]
