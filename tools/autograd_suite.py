"""Run HIPS autograd's own NumPy tests with tracegrad in autograd's place, and summarise.

autograd is not a dependency and none of its code is in this repository.  Fetch its
source distribution outside the repository, then point this tool at its tests::

    pip download autograd --no-deps --no-binary :all: -d /tmp/autograd
    tar xzf /tmp/autograd/autograd-*.tar.gz -C /tmp/autograd
    python tools/autograd_suite.py /tmp/autograd/autograd-*/tests

``tools/autograd_shim`` stands in for the ``autograd`` package (``autograd.numpy`` is NumPy,
``grad`` is ``tracegrad.grad``, ``check_grads`` is ``tracegrad.testing.check_grads``).  The
tests run on tracegrad's reference interpreter: they build hundreds of small programs, and
this measures what tracegrad can trace and differentiate, not compiled speed.  The summary
gives the pass count per file and the failures grouped by their error (docs/autograd-suite.md).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIM = ROOT / "tools" / "autograd_shim"
# The files that test NumPy's functions (the rest test autograd's own machinery: boxes,
# vector spaces, graph building, wrappers; or SciPy, linalg, FFT, containers).
NUMPY_FILES = (
    "test_numpy.py",
    "test_systematic.py",
    "test_scalar_ops.py",
    "test_binary_ops.py",
    "test_logic.py",
    "test_truediv.py",
    "test_complex.py",
)


def run(tests: Path, files: list[str], report: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SHIM), str(tests), str(ROOT)])
    env.setdefault("TRACEGRAD_BACKEND", "interpret")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    # autograd's own pytest settings (coverage, xdist) are not ours: an empty configuration.
    command += ["-c", os.devnull, f"--rootdir={tests}", f"--junitxml={report}"]
    command += [str(tests / f) for f in files]
    subprocess.run(command, cwd=tests, env=env, stdout=subprocess.DEVNULL, check=False)


def _error_key(message: str) -> str:
    """The first line of an error, with numbers, shapes and quoted names made generic."""
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    first = re.sub(r"\(at [^)]*\)", "", first)
    first = re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "N", first)
    return first[:110]


def summarise(report: Path, top: int) -> str:
    root = ET.parse(report).getroot()
    per_file: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for case in root.iter("testcase"):
        name = case.get("name", "")
        module = case.get("classname", "").split(".")[-1]
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skipped = case.find("skipped") is not None
        per_file[module][1] += not skipped
        if problem is None:
            per_file[module][0] += not skipped
            continue
        kind = (problem.get("type") or "").split(".")[-1]
        groups[f"{kind}: {_error_key(problem.get('message') or problem.text or '')}"].append(
            f"{module}::{name}"
        )
    passed = sum(p for p, _ in per_file.values())
    total = sum(t for _, t in per_file.values())
    lines = [f"passed {passed} of {total} ({100 * passed / max(total, 1):.1f} %)", ""]
    lines += [f"  {m}: {p} of {t}" for m, (p, t) in sorted(per_file.items())]
    lines += ["", "failure groups, largest first:"]
    ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    for key, cases in ranked[:top]:
        lines.append(f"  {len(cases):3d}  {key}")
        lines.append(f"       e.g. {', '.join(cases[:4])}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", type=Path, help="autograd's tests directory")
    parser.add_argument("--files", nargs="*", default=list(NUMPY_FILES))
    parser.add_argument("--top", type=int, default=15, help="failure groups to list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.xml"
        run(args.tests.resolve(), args.files, report)
        print(summarise(report, args.top))


if __name__ == "__main__":
    main()
