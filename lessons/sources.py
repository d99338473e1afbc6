"""Read a lesson source (lessons/src/NN_*.py) into cells, and write its student or solution code.

A source is a Python file in the "percent" format that editors and jupytext understand:

    # %% [markdown]        a Markdown cell; its lines are comments, "# " is stripped
    # %%                   a code cell
    # %% [solution]        a code cell shown collapsed in Jupyter: the answer to a question

A graded exercise is a code cell whose function bodies hold a solution between nbgrader's markers,

        ### BEGIN SOLUTION
        ...the answer...
        ### END SOLUTION

followed by a check cell that calls `check(...)` (lessons/grading.py). The student version replaces
each marked block by a stub that raises NotImplementedError; the solution version keeps the answer
and drops the marker lines. Nothing here needs more than the standard library, so that
lessons/gpu_outputs.py can read a solution on a machine without Jupyter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
CHECK_CALL = re.compile(r"^\s*check\(", re.MULTILINE)
KINDS = {"": "code", "[markdown]": "markdown", "[solution]": "solution"}


@dataclass
class Cell:
    kind: str  # 'markdown', 'code' or 'solution'
    text: str  # the source as the solution version shows it, markers included

    @property
    def is_exercise(self) -> bool:
        return self.kind == "code" and BEGIN in self.text

    @property
    def is_check(self) -> bool:
        return self.kind == "code" and CHECK_CALL.search(self.text) is not None


def parse(text: str) -> list[Cell]:
    """The cells of a source, in order."""
    cells: list[tuple[str, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# %%"):
            kind = KINDS.get(line[4:].strip())
            if kind is None:
                raise ValueError(f"line {number}: unknown cell marker {line!r}: expected '# %%', '# %% [markdown]'"
                                 " or '# %% [solution]'")
            cells.append((kind, []))
        elif not cells:
            if line.strip():
                raise ValueError(f"line {number}: text before the first cell marker: {line!r}")
        elif cells[-1][0] == "markdown":
            if line and not line.startswith("#"):
                raise ValueError(f"line {number}: a Markdown cell line must be a comment: {line!r}")
            cells[-1][1].append(line[2:] if line.startswith("# ") else line[1:])
        else:
            cells[-1][1].append(line)
    parsed = [Cell(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]
    for cell in parsed:
        if cell.kind == "code":
            solution_blocks(cell.text)  # raises on unbalanced markers
    return parsed


def read(path: str | Path) -> list[Cell]:
    return parse(Path(path).read_text(encoding="utf-8"))


def solution_blocks(text: str) -> list[tuple[int, int]]:
    """(begin, end) line numbers (0-based) of each marked solution; raises on unbalanced markers."""
    blocks, start = [], None
    for i, line in enumerate(text.splitlines()):
        marker = line.strip()
        if marker == BEGIN:
            if start is not None:
                raise ValueError(f"{BEGIN!r} inside another solution: {text.splitlines()[0]!r}")
            start = i
        elif marker == END:
            if start is None:
                raise ValueError(f"{END!r} without {BEGIN!r}: {text.splitlines()[0]!r}")
            blocks.append((start, i))
            start = None
    if start is not None:
        raise ValueError(f"{BEGIN!r} without {END!r}: {text.splitlines()[0]!r}")
    return blocks


def student_code(text: str) -> str:
    """The code with every marked solution replaced by the stub, at the marker's indentation."""
    lines, out, last = text.splitlines(), [], 0
    for begin, end in solution_blocks(text):
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        out += lines[last:begin] + [indent + stub for stub in STUB]
        last = end + 1
    return "\n".join(out + lines[last:])


def solution_code(text: str) -> str:
    """The code with the marker lines removed and the answers kept."""
    return "\n".join(line for line in text.splitlines() if line.strip() not in (BEGIN, END))


def code(cell: Cell, variant: str) -> str:
    """A cell's text in the 'student' or 'solution' version (Markdown and answers are the same in both)."""
    if variant not in ("student", "solution"):
        raise ValueError(f"variant must be 'student' or 'solution', got {variant!r}")
    if cell.kind != "code":
        return cell.text
    return student_code(cell.text) if variant == "student" else solution_code(cell.text)


def setup_code(cells: list[Cell]) -> str:
    """A lesson's first code cell (its imports and settings) without IPython's % lines: what its exercise and check
    cells may use besides each other, so that they also run outside a notebook."""
    first = next(c for c in cells if c.kind == "code")
    return "\n".join(line for line in first.text.splitlines() if not line.lstrip().startswith("%"))
