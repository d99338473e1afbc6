"""The verdict of each ablation against the paper's claim: agrees, disagrees or unresolved, from known runs."""
from tinyalex.experiments.report import claims_table, reach_summary
from tinyalex.experiments.seeds import paired_difference, summarize
from tinyalex.experiments.verdict import verdict

BASE_TOP1 = [0.60, 0.62, 0.61]
BASE_TRAIN = [0.50, 0.52, 0.51]


def entry(top1, train=BASE_TRAIN, reach=(None, None, None), expects="error", short_claim="", base_top1=BASE_TOP1):
    """A results.json entry with these per-seed values (top-5 copies top-1: it is not judged)."""
    return {"top1_error": summarize(top1), "train_error": summarize(train), "epochs_to_threshold": reach_summary(
        list(reach)), "vs_baseline": {m: paired_difference(top1, base_top1) for m in ("top1_error", "top5_error")},
        "expects": expects, "short_claim": short_claim, "paper_top1": 1.4 if expects == "error" else None,
        "paper_top5": None}


BASE = entry(BASE_TOP1, expects=None)


def test_a_resolved_rise_agrees_a_resolved_fall_disagrees_and_noise_is_unresolved():
    assert verdict(entry([0.70, 0.71, 0.72]), BASE) == "agrees (error rises)"
    assert verdict(entry([0.50, 0.53, 0.51]), BASE) == "disagrees (error falls)"
    # +0.7 points on average, but the seeds of the baseline spread by 1 point: not resolved
    assert verdict(entry([0.61, 0.62, 0.62]), BASE) == "unresolved"
    one_seed = entry([0.70], train=[0.5], reach=(None,), base_top1=[0.60])
    assert verdict(one_seed, entry([0.60], train=[0.5], reach=(None,), expects=None, base_top1=[0.60])) == "unresolved"  # one seed resolves nothing


def test_tanh_is_judged_by_epochs_to_25_percent_when_every_run_reached_it():
    base = entry(BASE_TOP1, reach=(3, 4, 3), expects=None)
    tanh = entry(BASE_TOP1, reach=(9, 11, 10), expects="slower")
    assert verdict(tanh, base) == "agrees (slower): +6.7 ± 0.6 epochs to 25% training error"
    assert verdict(entry(BASE_TOP1, reach=(3, 4, 3), expects="slower"), base).startswith("unresolved: +0.0")


def test_tanh_falls_back_on_the_final_training_error_when_25_percent_was_not_reached():
    tanh = entry(BASE_TOP1, train=[0.70, 0.71, 0.69], reach=(None, 9, None), expects="slower")
    assert verdict(tanh, BASE) == ("agrees (slower): 25% training error not reached by every run; final training "
                                   "error +19.0 ± 1.0 points")
    quicker = entry(BASE_TOP1, train=[0.40, 0.41, 0.42], expects="slower")
    assert verdict(quicker, BASE).startswith("disagrees (faster)")
    one = entry([0.6], train=[0.48], reach=(None,), expects="slower", base_top1=[0.6])
    base = entry([0.6], train=[0.51], reach=(None,), expects=None, base_top1=[0.6])
    assert verdict(one, base).endswith("final training error -3.0 points")  # one seed has no spread: not "± 0.0"
    assert verdict(entry([0.6], reach=(9,), expects="slower", base_top1=[0.6]),
                   entry([0.6], reach=(3,), expects=None, base_top1=[0.6])) == \
        "unresolved: +6.0 epochs to 25% training error"


def test_controls_and_other_comparisons_make_no_claim():
    assert verdict(entry(BASE_TOP1, expects=None), BASE) == "no claim (control)"
    assert verdict(entry(BASE_TOP1, expects=None, short_claim="other comparison"), BASE) == (
        "no claim (other comparison)")


def test_the_claims_table_has_a_row_per_variant_but_the_baseline():
    results = {"variants": {"baseline": BASE, "no_lrn": entry([0.70, 0.71, 0.72])}}
    table = claims_table(results).splitlines()
    assert len(table) == 3 and table[2] == "| no_lrn | +10.0 ± 1.0 | +10.0 ± 1.0 | +1.4 / - | agrees (error rises) |"
