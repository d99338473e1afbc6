"""Statistics over seeds: means and sample sds of known runs, paired differences, the 'not resolved' rule,
epochs to 25% training error, and how the tables show them."""
import math

import numpy as np
import pytest

from tinyalex.experiments.report import aggregate, differences_table, epochs, errors_table, points, reach_summary
from tinyalex.experiments.seeds import RULE, paired_difference, summarize
from tinyalex.experiments.variants import VARIANTS


def test_the_mean_and_sample_sd_of_known_runs():
    stats = summarize([0.2, 0.3, 0.4])
    assert stats["mean"] == pytest.approx(0.3, abs=1e-15) and stats["sd"] == pytest.approx(0.1, abs=1e-15)
    assert stats["runs"] == [0.2, 0.3, 0.4] and stats["n"] == 3
    runs = [0.61, 0.58, 0.66, 0.7]
    assert summarize(runs)["sd"] == pytest.approx(np.std(runs, ddof=1), abs=1e-15)  # n - 1, not n
    assert summarize([0.5]) == {"mean": 0.5, "sd": None, "runs": [0.5], "n": 1}
    assert summarize([0.2, None, 0.4]) == {"mean": pytest.approx(0.3), "sd": pytest.approx(math.sqrt(0.02)),
                                           "runs": [0.2, None, 0.4], "n": 2}
    assert summarize([None])["mean"] is None


def test_a_difference_inside_the_seed_spread_is_not_resolved_and_one_outside_is():
    baseline = [0.30, 0.40, 0.50]  # sd 0.1
    inside = paired_difference([0.35, 0.45, 0.55], baseline)  # +0.05 at every seed, but inside the spread
    assert inside["mean"] == pytest.approx(0.05) and inside["sd"] == pytest.approx(0, abs=1e-15)
    assert inside["threshold"] == pytest.approx(0.1) and not inside["resolved"]
    outside = paired_difference([0.60, 0.70, 0.80], baseline)
    assert outside["mean"] == pytest.approx(0.3) and outside["resolved"]
    worse = paired_difference([0.10, 0.20, 0.30], baseline)
    assert worse["mean"] == pytest.approx(-0.2) and worse["resolved"]  # the sign does not matter


def test_a_difference_that_varies_too_much_from_seed_to_seed_is_not_resolved():
    # both spreads are 0.1 and the mean difference 0.2, but the per-seed differences are 0.4, 0.2, 0.0:
    # 2 x se = 2 x 0.2 / sqrt(3) = 0.231 > 0.2
    diff = paired_difference([0.5, 0.4, 0.3], [0.1, 0.2, 0.3])
    assert diff["se"] == pytest.approx(0.2 / math.sqrt(3)) and diff["threshold"] == pytest.approx(0.4 / math.sqrt(3))
    assert not diff["resolved"]


def test_one_seed_resolves_nothing_and_the_runs_must_pair():
    assert not paired_difference([0.9], [0.1])["resolved"]
    skipped = paired_difference([0.5, None, 0.7], [0.1, 0.2, 0.3])  # a diverged run drops its seed from the pairs
    assert skipped["runs"] == [pytest.approx(0.4), None, pytest.approx(0.4)] and skipped["n"] == 2
    with pytest.raises(ValueError, match="3 variant runs against 2 baseline runs"):
        paired_difference([0.1, 0.2, 0.3], [0.1, 0.2])


def test_the_table_marks_unresolved_differences_and_states_the_rule():
    assert points(paired_difference([0.35, 0.45, 0.55], [0.30, 0.40, 0.50])) == "+5.0 ± 0.0 n.r."
    assert points(paired_difference([0.60, 0.70, 0.80], [0.30, 0.40, 0.50])) == "+30.0 ± 0.0"
    assert points(paired_difference([0.3, 0.5], [0.4, 0.4])).startswith("+0.0 ± ")  # not -0.0
    assert "max(sd of the baseline, sd of the variant, 2 x the standard error" in RULE and "ddof = 1" in RULE


def test_epochs_to_threshold_counts_runs_that_never_reach_it_instead_of_averaging_them():
    partly = reach_summary([3, None, 4])
    assert partly["runs"] == [3, None, 4] and partly["mean"] is None and partly["not_reached"] == 1
    assert epochs(partly) == "not reached in 1 of 3 (others: 3, 4)"
    every = reach_summary([3, 4, 5])
    assert (every["mean"], every["sd"], every["not_reached"]) == (4.0, 1.0, 0) and epochs(every) == "4.0 ± 1.0"


def run(name, seed, top1, reached=None, diverged=None):
    errors = {m: (None if diverged else top1 + offset) for m, offset in
              (("top1_error", 0), ("top5_error", -0.2), ("top1_error_ten_crop", -0.01), ("top5_error_ten_crop", -0.21))}
    return {"variant": name, "seed": seed, **errors, "train_error": None if diverged else 0.3,
            "epochs_to_threshold": reached, "epochs": 4, "seconds": 1.0, "parameters": 1234, "diverged": diverged,
            "lrn_gain": None, "history": []}


def test_aggregate_gives_every_variant_its_statistics_and_its_differences():
    runs = {"baseline": [run("baseline", s, e, 2) for s, e in enumerate((0.30, 0.40, 0.50))],
            "no_lrn": [run("no_lrn", s, e, 3) for s, e in enumerate((0.60, 0.70, 0.80))],
            "tanh": [run("tanh", 0, 0.35, None), run("tanh", 1, 0.45, 4), run("tanh", 2, 0, diverged="nan")]}
    results = aggregate([VARIANTS[n] for n in runs], runs)
    base, no_lrn, tanh = (results["variants"][n] for n in runs)
    assert base["top1_error"]["runs"] == [0.30, 0.40, 0.50] and base["top1_error"]["sd"] == pytest.approx(0.1)
    assert no_lrn["vs_baseline"]["top5_error"]["mean"] == pytest.approx(0.3)
    assert no_lrn["vs_baseline"]["top5_error"]["resolved"] and no_lrn["paper_top1"] == 1.4
    assert tanh["diverged"] == {"2": "nan"} and tanh["top1_error"]["n"] == 2
    assert tanh["epochs_to_threshold"]["runs"] == [None, 4, None]
    table = errors_table(results)
    row = "| baseline | 40.0 ± 10.0 | 20.0 ± 10.0 | 39.0 ± 10.0 | 19.0 ± 10.0 | 30.0 ± 0.0 | 2.0 ± 0.0 | 3 |"
    assert row in table
    assert "| tanh | 40.0 ± 7.1 (1 diverged) |" in table
    deltas = differences_table(results)
    assert "| no_lrn | +30.0 ± 0.0 | +30.0 ± 0.0 | +30.0 ± 0.0 | +30.0 ± 0.0 | +1.4 / +1.2 |" in deltas
    assert "| tanh | +5.0 ± 0.0 n.r. |" in deltas and "| baseline |" not in deltas
