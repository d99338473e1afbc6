"""Run a lesson's graded exercises and their check cells in this process, without a notebook.

Each exercise cell (the student's stub, the solution, or the solution with one plausible mistake put in)
is executed with the exercise cells before it, then its check cell, after the lesson's first code cell (its
imports and settings, which must stay quick); a check cell may use nothing else. What the checks print is returned, one verdict per line.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import re
import sys
from pathlib import Path
from typing import Any

LESSONS = Path(__file__).resolve().parents[1] / "lessons"
sys.path.insert(0, str(LESSONS))
import sources  # noqa: E402  (lessons/sources.py)

GRADING = "from grading import *  # check and the case generators check cells use"


def load_build() -> Any:
    """lessons/build.py as a module (it needs nbformat and nbclient): how notebooks are built and read back."""
    spec = importlib.util.spec_from_file_location("lessons_build", LESSONS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prelude(path: Path) -> str:
    """The lesson's first code cell (its imports and settings) and grading's names."""
    return sources.setup_code(sources.read(path)) + "\n" + GRADING


VERDICT = re.compile(r"^(PASS|FAIL|SKIP|not done yet):?\s+(\w+)", re.MULTILINE)


def exercises(path: Path) -> list[tuple[sources.Cell, sources.Cell]]:
    """(exercise cell, check cell) pairs of a lesson source, in order."""
    cells = [c for c in sources.read(path) if c.kind == "code"]
    pairs = []
    for cell, after in zip(cells, cells[1:]):
        if cell.is_exercise:
            if not after.is_check:
                raise AssertionError(f"{path.name}: the exercise {cell.text.splitlines()[0]!r} has no check cell after it")
            pairs.append((cell, after))
    return pairs


def functions(cell: sources.Cell) -> list[str]:
    """Names of the functions an exercise cell defines at its top level."""
    return re.findall(r"^def (\w+)\(", cell.text, re.MULTILINE)


def graded(cell: sources.Cell) -> list[str]:
    """Names of the functions of an exercise cell whose bodies hold a marked solution."""
    names, current = [], None
    for line in cell.text.splitlines():
        if match := re.match(r"def (\w+)\(", line):
            current = match.group(1)
        elif line and not line[0].isspace():
            current = None
        elif current and line.strip() == sources.BEGIN and current not in names:
            names.append(current)
    return names


def checked(check_cell: sources.Cell) -> int:
    """How many check() calls a check cell makes (each prints one verdict)."""
    return len(sources.CHECK_CALL.findall(check_cell.text))


def run(path: Path, variant: str = "solution", mistake: tuple[str, str, str] | None = None,
        seed: int | None = None, trials: int | None = None) -> str:
    """What every check of a lesson prints, with the exercises in `variant`.

    `mistake` = (function, old, new) replaces `old` by `new` in the solution of the exercise cell that
    defines `function` (it must occur exactly once there). `seed` and `trials` are handed to every check()
    call, as check(..., seed=seed, trials=trials): the same cases on every run, however the cells call it.
    """
    return execute(path, variant, mistake, seed, trials)[1]


def names(path: Path) -> dict:
    """Everything the lesson's first cell, exercises (solved) and check cells define: the case generators, say."""
    return execute(path, "solution")[0]


def execute(path: Path, variant: str = "solution", mistake: tuple[str, str, str] | None = None,
            seed: int | None = None, trials: int | None = None) -> tuple[dict, str]:
    """(the names defined, what was printed) of run()."""
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(prelude(path), namespace)
        fixed = {key: value for key, value in (("seed", seed), ("trials", trials)) if value is not None}
        if fixed:
            namespace["check"] = functools.partial(namespace["check"], **fixed)
        for exercise, check_cell in exercises(path):
            code = sources.code(exercise, variant)
            if mistake and mistake[0] in functions(exercise):
                code = sources.solution_code(exercise.text)
                count = code.count(mistake[1])
                if count != 1:
                    raise AssertionError(f"{path.name}: {mistake[1]!r} occurs {count} times in {mistake[0]}'s solution")
                code = code.replace(mistake[1], mistake[2])
            exec(code, namespace)
            exec(check_cell.text, namespace)
    return namespace, printed.getvalue()


def verdicts(printed: str) -> list[tuple[str, str]]:
    """(verdict, function name) of every check line printed."""
    return VERDICT.findall(printed)
