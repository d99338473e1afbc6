"""The real-photo results in README.md and docs/RESULTS.md say what the saved ablation output says."""
import json
import re
from pathlib import Path

import pytest

from tinyalex.experiments.report import claims_table, differences_table, errors_table

ROOT = Path(__file__).resolve().parents[1]
SAVED = ROOT / "docs" / "results" / "imagewoof2-small-2026-12-02"  # `tinyalex ablate` and `tinyalex figures` output


def saved(name: str) -> dict:
    return json.loads((SAVED / name).read_text())


def rows(table: str) -> list[str]:
    """The body rows of a Markdown table (header and rule left out)."""
    return table.splitlines()[2:]


def test_readme_carries_the_saved_claims_table_row_for_row():
    readme = (ROOT / "README.md").read_text().splitlines()
    expected = rows(claims_table(saved("results.json")))
    assert len(expected) == 11
    start = readme.index(expected[0])
    assert readme[start : start + len(expected)] == expected


def test_readme_gives_the_baselines_saved_errors_and_the_budget():
    readme = (ROOT / "README.md").read_text()
    baseline = next(row for row in rows(errors_table(saved("results.json"))) if row.startswith("| baseline |"))
    assert baseline in readme
    config = saved("config.json")
    assert (config["seeds"], config["epochs"], config["model"]) == (3, 10, "small")
    assert f"{config['seeds']} seeds" in readme and f"{config['epochs']} epochs" in readme


@pytest.mark.parametrize("table", [errors_table, differences_table, claims_table,
                                   lambda r: differences_table(r, "vs_reference")])
def test_the_results_page_carries_every_saved_table(table):
    assert table(saved("results.json")) in (ROOT / "docs" / "RESULTS.md").read_text()


def test_the_results_page_gives_figure_3s_saved_numbers():
    page = (ROOT / "docs" / "RESULTS.md").read_text()
    kernels = saved("kernels.json")
    for key, label in (("plane_correlation", "colour-plane correlation"),
                       ("init_correlation", "correlation with the initial weights")):
        for tower in kernels[key]:
            line = next(line for line in page.splitlines() if line.startswith(f"- tower {tower['tower']}: "))
            assert f"{label} {tower['mean']:.3f} ± {tower['sd']:.3f}" in line, line


def test_the_results_page_gives_the_saved_confusions():
    page = (ROOT / "docs" / "RESULTS.md").read_text()
    lines = (SAVED / "confusion.csv").read_text().splitlines()
    wnids = lines[0].split(",")[1:]
    counts = {row.split(",")[0]: list(map(int, row.split(",")[1:])) for row in lines[1:]}
    names = saved("classes.json")  # the prepared set's wnid -> class name
    worst = max((n, t, p) for t, row in counts.items() for p, n in zip(wnids, row) if p != t)
    assert re.search(rf"{re.escape(names[worst[1]])} -> {re.escape(names[worst[2]])}:? {worst[0]}\b", page)
