"""Each ablation against the paper's claim: agrees, disagrees or unresolved, by the seeds' rule.

For each choice it measured, the paper predicts which way things move when the choice is taken away
(``Variant.expects``). A difference **agrees** when it is resolved (experiments.seeds) and points the
predicted way, **disagrees** when it is resolved and points the other way, and is **unresolved**
otherwise. Only the direction is judged: the paper's sizes are for ImageNet after about 90 epochs.

* "error": the validation top-1 error (centre crop) of the variant minus the baseline's should be > 0.
* "slower" (tanh against ReLU, Figure 1): the epochs to 25% training error should be more. When a run of
  either never reached 25%, the budget was too short for Figure 1's measure, and the training error
  at the end of the budget decides instead (higher for the slower learner); the verdict says which.
"""
from __future__ import annotations

from typing import Any

from tinyalex.experiments.curves import THRESHOLD
from tinyalex.experiments.seeds import paired_difference


def judge(diff: dict[str, Any], rises: str, falls: str) -> str:
    """"agrees (rises)" for a resolved positive difference, "disagrees (falls)" for a resolved
    negative one, "unresolved" otherwise."""
    if not diff["resolved"]:
        return "unresolved"
    return f"agrees ({rises})" if diff["mean"] > 0 else f"disagrees ({falls})"


def slower(entry: dict[str, Any], baseline: dict[str, Any]) -> str:
    """Figure 1's verdict: epochs to 25% training error when every run reached it, else the final training error."""
    reach, base = entry["epochs_to_threshold"], baseline["epochs_to_threshold"]
    if reach["not_reached"] == 0 and base["not_reached"] == 0:
        diff = paired_difference(reach["runs"], base["runs"])
        found = f"{diff['mean']:+.1f}{spread(diff['sd'])} epochs to {THRESHOLD:.0%} training error"
        return f"{judge(diff, 'slower', 'faster')}: {found}"
    diff = paired_difference(entry["train_error"]["runs"], baseline["train_error"]["runs"])
    found = (f"{THRESHOLD:.0%} training error not reached by every run; final training error "
             f"{100 * diff['mean']:+.1f}{spread(diff['sd'], 100)} points")
    return f"{judge(diff, 'slower', 'faster')}: {found}"


def spread(sd: float | None, scale: float = 1.0) -> str:
    """' ± sd', or nothing for one seed, whose spread is unknown (it read '± 0.0')."""
    return "" if sd is None else f" ± {scale * sd:.1f}"


def verdict(entry: dict[str, Any], baseline: dict[str, Any]) -> str:
    """What this variant's runs say of the paper's claim (see the module docstring)."""
    expects = entry.get("expects")
    if expects == "error":
        return judge(entry["vs_baseline"]["top1_error"], "error rises", "error falls")
    if expects == "slower":
        return slower(entry, baseline)
    return f"no claim ({entry['short_claim'] or 'control'})"
