"""Starting benchmark children (tinyalex.bench.child) and alternating the frameworks over rounds: A B A B.

Alternating round by round spreads a change in the machine's load (another job starting, a
slow first run after boot) over both frameworks instead of charging it to one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

import tinyalex

Run = Callable[[list[str]], dict]


def run_child(arguments: list[str]) -> dict:
    """`python -m tinyalex.bench.child ARGUMENTS` in a fresh interpreter; the JSON line it prints last."""
    env = dict(os.environ)
    root = str(Path(tinyalex.__file__).resolve().parents[1])  # the child imports this very tinyalex
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    if arguments[:1] == ["same-network"]:  # it checks the layers, in float32: TF32's rounding would fail it
        env.pop("TINYALEX_TF32", None)
        env.pop("CUPY_TF32", None)
    command = [sys.executable, "-m", "tinyalex.bench.child", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child {' '.join(arguments)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def alternate_rounds(frameworks: Sequence[str], rounds: int, run_one: Callable[[str, int], dict]) -> list[dict]:
    """`rounds` rounds of run_one(framework, round) for each framework in turn; one {framework: result} per round."""
    results = []
    for round_ in range(rounds):
        results.append({framework: run_one(framework, round_) for framework in frameworks})
    return results
