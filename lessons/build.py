"""Build the lesson notebooks from their sources in lessons/src/, execute them, and save them with outputs.

The sources' format, and how graded exercises are marked, is described in lessons/sources.py. What
lessons/ ships is the *student* version of every lesson: each exercise's answer replaced by a stub
that raises NotImplementedError, executed top to bottom, so every check says "not done yet" and
the cells after it go on with tinyalex's version. The *solution* version keeps the answers; build
it with --solutions (lessons/NN_name.solution.ipynb, beside the student's, which git ignores) to see
every check say PASS.

The numbers a lesson's text quotes are recorded by the cells that compute them (lessons/facts.py);
after execution the `{{name}}` fields of the Markdown are filled in from them.

Cells get ids numbered in order and execution leaves no timings in the metadata, so rebuilding
an unchanged lesson gives the same file (figures and timings aside) and diffs stay small. Notebooks
execute with lessons/ as the working directory, TINYALEX_DATA pointing at a scratch folder (so the
generated data set never lands in the repository), on the CPU, with one BLAS thread and one op thread.

Usage (from the repository root):

    python lessons/build.py                     # build and execute every lesson (student version)
    python lessons/build.py 05 06               # only the lessons whose names start with these
    python lessons/build.py --check             # are the notebooks in step with their sources?
    python lessons/build.py --solutions         # execute the solution versions (NN_name.solution.ipynb)
    python lessons/build.py --solutions 04      # ... of lesson 4 only
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

LESSONS = Path(__file__).resolve().parent
sys.path.insert(0, str(LESSONS))
import facts  # noqa: E402  (lessons/facts.py, beside this file)
import sources  # noqa: E402

SOURCES = LESSONS / "src"
KERNEL = "python3"
TIMEOUT = 240  # seconds a single cell may run before execution is abandoned
HIDDEN = {"jupyter": {"source_hidden": True}, "tags": ["solution"]}
# One BLAS thread and one tinyalex op thread unless the caller says otherwise: the lessons' arrays are small.
# OpenBLAS's threads spin while they wait, which made some lessons five times slower on a busy 2-core machine;
# and how a batch is cut into parts for tinyalex's op threads (TINYALEX_THREADS, tinyalex/ops/threads.py) changes
# the rounding of summed gradients, so the recorded numbers are reproduced with the thread count they were made with.
THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TINYALEX_THREADS")
FIELD = re.compile(r"\{\{(\w+)(?:\[(\d+)\])?(?::([^}]*))?\}\}")


def sources_in_order() -> list[Path]:
    """The lesson sources, in course order (their names start with the lesson number)."""
    return sorted(SOURCES.glob("[0-9][0-9]_*.py"))


def notebook_path(source: Path, variant: str = "student") -> Path:
    """lessons/NN_name.ipynb for the student version, lessons/NN_name.solution.ipynb for the solution."""
    return LESSONS / f"{source.stem}{'.solution' if variant == 'solution' else ''}.ipynb"


def build(source: Path, variant: str = "student") -> nbformat.NotebookNode:
    """The unexecuted notebook of one source, in the 'student' or 'solution' version."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": KERNEL, "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(sources.read(source)):
        if cell.kind == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.text)
        else:
            metadata = dict(HIDDEN) if cell.kind == "solution" else {}
            if cell.is_exercise or cell.is_check:
                metadata = {"tags": ["exercise" if cell.is_exercise else "check"]}
            new = nbformat.v4.new_code_cell(sources.code(cell, variant), metadata=metadata)
        new.id = f"cell-{i:02d}"
        nb.cells.append(new)
    return nb


def execute(nb: nbformat.NotebookNode, data_dir: str | os.PathLike, timeout: int = TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel (working directory lessons/), raising on the first error."""
    env = {**os.environ, "TINYALEX_DATA": str(data_dir), "TINYALEX_DEVICE": "cpu",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    for name in THREADS:
        env.setdefault(name, "1")
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(LESSONS)}})
    client.execute(env=env)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    return nb


def coalesce_streams(outputs: list) -> list:
    """Join consecutive prints to the same stream into one output, however the kernel flushed them."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.output_type == "stream" and previous is not None and previous.output_type == "stream"
                and previous.name == output.name):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def recorded(nb: nbformat.NotebookNode) -> dict | None:
    """The numbers the executed notebook recorded for its text ({'values': ..., 'measured': [...]}), if any."""
    found = None
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if facts.MIME in output.get("data", {}):
                found = output["data"][facts.MIME]
    return found


def fill(text: str, values: dict, where: str = "") -> str:
    """Markdown with each {{name}}, {{name[i]}} or {{name:format}} replaced by the recorded value."""
    def one(match: re.Match) -> str:
        name, index, spec = match.group(1), match.group(2), match.group(3) or ""
        if name not in values:
            raise KeyError(f"{where}: the text quotes {{{{{name}}}}}, which the notebook never recorded"
                           f" (recorded: {', '.join(sorted(values)) or 'nothing'})")
        value = values[name] if index is None else values[name][int(index)]
        return format(value, spec)

    return FIELD.sub(one, text)


def render(nb: nbformat.NotebookNode, name: str, values: dict | None = None) -> nbformat.NotebookNode:
    """Fill the Markdown's fields from `values`, by default the numbers the executed notebook recorded."""
    values = (recorded(nb) or {}).get("values", {}) if values is None else values
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = fill(cell.source, values, f"{name}, cell {i}")
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Save atomically: a temporary file beside the target, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)


def out_of_step(source: Path) -> list[str]:
    """What differs between a source and its committed notebook (empty when they agree)."""
    path = notebook_path(source)
    if not path.is_file():
        return [f"{path.name} is missing"]
    saved = nbformat.read(path, as_version=4)
    try:
        built = render(build(source), path.name, (recorded(saved) or {}).get("values", {}))
    except KeyError as error:
        return [str(error.args[0])]
    problems = []
    if len(built.cells) != len(saved.cells):
        problems.append(f"{path.name}: {len(saved.cells)} cells, the source has {len(built.cells)}")
    for i, (a, b) in enumerate(zip(built.cells, saved.cells)):
        if (a.cell_type, a.source, a.metadata.get("jupyter")) != (b.cell_type, b.source, b.metadata.get("jupyter")):
            problems.append(f"{path.name}: cell {i} differs from the source")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="prefixes of the lessons to build (default: all)")
    parser.add_argument("--check", action="store_true", help="only compare the notebooks with their sources")
    parser.add_argument("--solutions", action="store_true",
                        help="execute the solution versions into lessons/NN_name.solution.ipynb (ignored by git)")
    args = parser.parse_args(argv)
    chosen = [s for s in sources_in_order() if not args.names or any(s.stem.startswith(n) for n in args.names)]
    if not chosen:
        print(f"no lesson source matches {args.names} in {SOURCES}", file=sys.stderr)
        return 2
    if args.check:
        problems = [p for s in chosen for p in out_of_step(s)]
        print("\n".join(problems) or f"{len(chosen)} notebooks match their sources")
        return 1 if problems else 0
    variant = "solution" if args.solutions else "student"
    with tempfile.TemporaryDirectory(prefix="tinyalex-lessons-") as data_dir:
        for source in chosen:
            start = time.perf_counter()
            nb = render(execute(build(source, variant), data_dir), source.name)
            write(nb, notebook_path(source, variant))
            print(f"{notebook_path(source, variant).name}: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
