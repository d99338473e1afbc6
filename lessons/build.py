"""Build the lesson notebooks from their sources in lessons/src/, execute them, and save them with outputs.

A source is a Python file in the "percent" format that editors and jupytext understand:

    # %% [markdown]        a Markdown cell; its lines are comments, "# " is stripped
    # %%                   a code cell
    # %% [solution]        a code cell shown collapsed in Jupyter: an exercise's answer

Code cells are notebook code, so IPython magics such as `%matplotlib inline` are allowed.

Cells get ids numbered in order and execution leaves no timings in the metadata, so rebuilding
an unchanged lesson gives the same file (figures aside) and diffs stay small. Notebooks execute
with lessons/ as the working directory, TINYALEX_DATA pointing at a scratch folder (so the
generated data set never lands in the repository), on the CPU, with one BLAS thread.

Usage (from the repository root):

    python lessons/build.py                 # build and execute every lesson
    python lessons/build.py 05 06           # only the lessons whose names start with these
    python lessons/build.py --check         # are the notebooks in step with their sources?
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

LESSONS = Path(__file__).resolve().parent
SOURCES = LESSONS / "src"
KERNEL = "python3"
TIMEOUT = 240  # seconds a single cell may run before execution is abandoned
HIDDEN = {"jupyter": {"source_hidden": True}, "tags": ["solution"]}
# One BLAS thread unless the caller says otherwise: the lessons' arrays are small, and OpenBLAS's
# threads spin while they wait, which made some lessons five times slower on a busy 2-core machine.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def sources() -> list[Path]:
    """The lesson sources, in course order (their names start with the lesson number)."""
    return sorted(SOURCES.glob("[0-9][0-9]_*.py"))


def notebook_path(source: Path) -> Path:
    return LESSONS / f"{source.stem}.ipynb"


def parse(text: str) -> list[tuple[str, str]]:
    """(kind, source) per cell, kind being 'markdown', 'code' or 'solution'."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            tag = line[4:].strip()
            kind = {"": "code", "[markdown]": "markdown", "[solution]": "solution"}.get(tag)
            if kind is None:
                raise ValueError(f"unknown cell marker {line!r}: expected '# %%', '# %% [markdown]' or '# %% [solution]'")
            cells.append((kind, []))
        elif not cells:
            if line.strip():
                raise ValueError(f"text before the first cell marker: {line!r}")
        elif cells[-1][0] == "markdown":
            if line and not line.startswith("#"):
                raise ValueError(f"a Markdown cell line must be a comment: {line!r}")
            cells[-1][1].append(line[2:] if line.startswith("# ") else line[1:])
        else:
            cells[-1][1].append(line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def build(source: Path) -> nbformat.NotebookNode:
    """The unexecuted notebook of one source."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": KERNEL, "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for i, (kind, text) in enumerate(parse(source.read_text(encoding="utf-8"))):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell(text, metadata=dict(HIDDEN) if kind == "solution" else {})
        cell.id = f"cell-{i:02d}"
        nb.cells.append(cell)
    return nb


def execute(nb: nbformat.NotebookNode, data_dir: str | os.PathLike, timeout: int = TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel (working directory lessons/), raising on the first error."""
    env = {**os.environ, "TINYALEX_DATA": str(data_dir), "TINYALEX_DEVICE": "cpu",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    for name in BLAS_THREADS:
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


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Save atomically: a temporary file beside the target, then a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)


def out_of_step(source: Path) -> list[str]:
    """What differs between a source and its committed notebook (empty when they agree)."""
    path = notebook_path(source)
    if not path.is_file():
        return [f"{path.name} is missing"]
    built, saved = build(source), nbformat.read(path, as_version=4)
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
    args = parser.parse_args(argv)
    chosen = [s for s in sources() if not args.names or any(s.stem.startswith(n) for n in args.names)]
    if not chosen:
        print(f"no lesson source matches {args.names} in {SOURCES}", file=sys.stderr)
        return 2
    if args.check:
        problems = [p for s in chosen for p in out_of_step(s)]
        print("\n".join(problems) or f"{len(chosen)} notebooks match their sources")
        return 1 if problems else 0
    with tempfile.TemporaryDirectory(prefix="tinyalex-lessons-") as data_dir:
        for source in chosen:
            start = time.perf_counter()
            nb = execute(build(source), data_dir)
            write(nb, notebook_path(source))
            print(f"{notebook_path(source).name}: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
