"""The lesson notebooks (lessons/): each runs top to bottom without an error, is listed in
lessons/README.md in course order, matches its source in lessons/src/, has exercises with hidden
solutions, and its committed outputs hold no absolute paths or machine names.

Executing all notebooks takes a few minutes on a 2-core CPU (they share one scratch data folder,
so the embedded data set is generated once).
"""
import importlib.util
import json
import re
import socket
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
NOTEBOOK_SECONDS = 180  # a notebook (and any one of its cells) must finish within this
MAX_BYTES = 300_000
# Absolute paths of the usual home, scratch and work folders, on Linux, macOS and Windows.
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/work|/root|/home|/tmp|/Users|/private|/var/folders|[A-Za-z]:\\\\?Users)\b")


def load_build():
    spec = importlib.util.spec_from_file_location("lessons_build", LESSONS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()
NOTEBOOKS = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))


def code_outputs(nb):
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tinyalex-data")


def test_there_are_thirteen_lessons_one_per_source():
    assert [p.stem for p in NOTEBOOKS] == [s.stem for s in build.sources()]
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 14)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_errors(path, data_dir):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    build.execute(nb, data_dir, timeout=NOTEBOOK_SECONDS)  # raises CellExecutionError at the first error
    seconds = time.perf_counter() - start
    assert seconds < NOTEBOOK_SECONDS, f"{path.name} took {seconds:.0f} s"
    warnings = [o.text for o in code_outputs(nb) if o.output_type == "stream" and o.name == "stderr"]
    assert not warnings, f"{path.name} wrote to stderr: {warnings}"


def test_readme_lists_every_lesson_in_order_with_a_line_on_what_it_teaches():
    lines = (LESSONS / "README.md").read_text(encoding="utf-8").splitlines()
    links = [(m.group(1), line) for line in lines if (m := re.search(r"\]\((\d\d_[\w]+\.ipynb)\)", line))]
    assert [name for name, _ in links] == [p.name for p in NOTEBOOKS]
    for name, line in links:
        description = line.split(f"({name})", 1)[1].strip(" :-—")
        assert len(description) > 20, f"README.md: no description of what {name} teaches"


@pytest.mark.parametrize("source", build.sources(), ids=lambda p: p.stem)
def test_notebook_matches_its_source(source):
    assert build.out_of_step(source) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_says_what_it_teaches_and_has_hidden_solutions(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "You will learn" in nb.cells[0].source
    assert any("## Exercises" in c.source for c in nb.cells if c.cell_type == "markdown")
    solutions = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("jupyter", {}).get("source_hidden")]
    assert solutions, f"{path.name} has no hidden solution cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_complete_small_and_anonymous(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size:,} bytes"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{path.name} was saved without running every cell"
    outputs = code_outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    text = json.dumps([o for o in outputs if o.output_type == "stream" or "text/plain" in o.get("data", {})])
    found = ABSOLUTE_PATH.search(text)
    assert found is None, f"{path.name}: an absolute path in the outputs: ...{text[found.start() - 40:found.end() + 40]}..."
    host = socket.gethostname()
    if len(host) > 3:
        assert host not in text, f"{path.name}: the machine name {host!r} is in the outputs"


def test_absolute_path_check_catches_what_it_should():
    for text in ['"/work/main/x"', "in /tmp/tmpab12", "'/home/ann/data'", "C:\\\\Users\\\\ann", "/Users/ann"]:
        assert ABSOLUTE_PATH.search(text), text
    for text in ["lessons/05.ipynb", "a/tmp/b", "1/2 of the work", "runs/example"]:
        assert ABSOLUTE_PATH.search(text) is None, text
