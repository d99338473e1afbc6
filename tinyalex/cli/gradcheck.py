"""`tinyalex gradcheck`: check every op and layer against central differences and print a table.

`--directional` checks each along one random direction (two evaluations however large the
input) and adds AlexNet's layers at the paper's sizes, too large to check element by element.
"""
from __future__ import annotations

import argparse
import sys

from tinyalex import checks
from tinyalex.backend import DeviceError, resolve_device
from tinyalex.cli.options import add_device, integer
from tinyalex.gradcheck import GradcheckError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="only the checks whose op name contains NAME")
    add_device(parser)
    parser.add_argument("--seed", type=integer(0, 2**32 - 1), default=0,
                        help="seed of the random inputs (default 0)")
    parser.add_argument("--directional", action="store_true",
                        help="check along one random direction instead of element by element (two evaluations "
                        "each), and add AlexNet's layers at the paper's sizes (conv1 .. pool5, fc8)")


def run(args: argparse.Namespace) -> int:
    """Print op, shapes, max relative error and pass/FAIL per check; 1 if any failed (or none matched)."""
    try:
        device = resolve_device(args.device)
    except DeviceError as error:
        print(f"tinyalex gradcheck: error: {error}", file=sys.stderr)
        return 2
    candidates = checks.all_checks(args.seed) + (checks.paper_checks(args.seed) if args.directional else [])
    selected = [c for c in candidates if not args.names or any(n in c.name for n in args.names)]
    if not selected:
        names = ", ".join(dict.fromkeys(c.name for c in candidates))
        more = "" if args.directional else "; --directional adds AlexNet's layers at the paper's sizes (alexnet.*)"
        print(f"tinyalex gradcheck: error: no check matches {' '.join(args.names)}; the checks are {names}{more}",
              file=sys.stderr)
        return 2
    rows, failures = [], []
    for check in selected:
        try:
            error, result = check.run(device, args.directional), "pass"
        except GradcheckError as failure:
            error, result = failure.max_relative_error, "FAIL"
            failures.append(f"{check.name} ({check.shapes}): {failure}")
        rows.append((check.name, check.shapes, f"{error:.1e}", result))
    header = ("op", "shapes", "max rel err", "result")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}")
    how = "one random direction each" if args.directional else "element by element"
    print(f"\n{len(rows) - len(failures)} of {len(rows)} checks passed on {device} (float64, {how})")
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0
