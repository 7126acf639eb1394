"""Fail when a module of tracegrad/ outgrows its line budget.

Small modules with one job each are a house rule; this check keeps it from eroding.  The
budget counts every line of the file.  A module that must be long says why in BUDGETS.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_BUDGET = 650
BUDGETS = {
    # One declaration per primitive (shape rule, VJP rule, code generation side by side):
    # splitting it would scatter what belongs together.
    "tracegrad/core/primitives.py": 1600,
    # Branch-free polynomial kernels with their range reductions, one per function and dtype.
    "tracegrad/backend/vecmath.py": 800,
}


def over_budget(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "tracegrad").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        lines = len(path.read_text().splitlines())
        budget = BUDGETS.get(name, DEFAULT_BUDGET)
        if lines > budget:
            problems.append(f"{name}: {lines} lines, budget {budget}")
    return problems


if __name__ == "__main__":
    problems = over_budget(Path(__file__).resolve().parent.parent)
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)
