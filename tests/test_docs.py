"""The documentation site builds, and the code on its tutorial pages runs and prints what
the pages say it prints.

Every ```python block of a tutorial page is executed, in page order, in one namespace per
page (so a later block may use what an earlier one defined). A ```text block that directly
follows a python block is that block's output: the test compares it with what the block
printed. Other fences (```sh, ```py for code that is shown but not run) are left alone.

After changing tracegrad in a way that changes a printout (an IR, generated source),
rewrite the outputs from real runs with::

    python tests/test_docs.py --update
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TUTORIALS = [
    "index.md",
    "getting-started.md",
    "tracing.md",
    "adjoint.md",
    "backend.md",
    "sharp-bits.md",
    "control-flow.md",
    "vmap.md",
    "course.md",
    "dask.md",  # runs on Dask's threaded scheduler; skipped without dask installed
]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*\n", re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    code: str
    line: int  # line of the opening fence, 1-based
    output: str | None  # the ```text block right after it, if any
    output_span: tuple[int, int] | None  # where that block's body is in the page


def python_blocks(text: str) -> list[Block]:
    """The runnable blocks of a page, each with its expected output (if shown)."""
    fences = list(FENCE.finditer(text))
    blocks = []
    for i, m in enumerate(fences):
        if m.group(1) != "python":
            continue
        output, span = None, None
        nxt = fences[i + 1] if i + 1 < len(fences) else None
        if nxt is not None and nxt.group(1) == "text" and not text[m.end() : nxt.start()].strip():
            output, span = nxt.group(2), nxt.span(2)
        blocks.append(Block(m.group(2), text.count("\n", 0, m.start()) + 1, output, span))
    return blocks


def run_block(block: Block, page: str, namespace: dict) -> str:
    """Execute one block in ``namespace``; return what it printed."""
    buffer = io.StringIO()
    code = compile(block.code, f"docs/{page}:{block.line}", "exec")
    with contextlib.redirect_stdout(buffer):
        exec(code, namespace)
    return buffer.getvalue()


def normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def run_page(page: str) -> list[tuple[Block, str]]:
    text = (DOCS / page).read_text(encoding="utf-8")
    namespace: dict = {"__name__": f"docs_{page[:-3].replace('-', '_')}"}
    return [(block, run_block(block, page, namespace)) for block in python_blocks(text)]


@pytest.mark.parametrize("page", TUTORIALS)
def test_page_code_runs_and_prints_what_the_page_shows(page, monkeypatch) -> None:
    if page == "dask.md" and importlib.util.find_spec("distributed") is None:
        pytest.skip("dask and distributed are not installed: pip install -e '.[dask]'")
    # The interpreter backend: no compiles (the backend is chosen when a program first runs).
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    results = run_page(page)
    assert results or page == "course.md", f"{page} has no ```python blocks"
    for block, printed in results:
        if block.output is not None:
            assert normalize(printed) == normalize(block.output), (
                f"docs/{page}:{block.line}: the block prints something else than the page "
                "shows; run `python tests/test_docs.py --update` if the change is intended."
            )


def test_tutorials_are_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in TUTORIALS:
        assert f" {page}" in nav, f"{page} is not in mkdocs.yml's nav"


def _missing_docs_packages() -> list[str]:
    modules = {"mkdocs": "mkdocs", "material": "mkdocs-material", "mkdocstrings": "mkdocstrings"}
    missing = [pkg for mod, pkg in modules.items() if importlib.util.find_spec(mod) is None]
    if importlib.util.find_spec("mkdocstrings_handlers") is None:
        missing.append("mkdocstrings-python")
    return missing


def test_site_builds_strict(tmp_path) -> None:
    missing = _missing_docs_packages()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "index.html").exists()
    assert (tmp_path / "reference" / "api" / "index.html").exists()


def update_outputs() -> None:
    """Rewrite every output block of the tutorial pages from a real run."""
    os.environ["TRACEGRAD_BACKEND"] = "interpret"
    for page in TUTORIALS:
        path = DOCS / page
        text = path.read_text(encoding="utf-8")
        edits = []
        for block, printed in run_page(page):
            if block.output_span is not None:
                edits.append((block.output_span, normalize(printed) + "\n"))
        for (start, end), new in reversed(edits):
            text = text[:start] + new + text[end:]
        path.write_text(text, encoding="utf-8")
        print(f"{page}: {len(edits)} output block(s) written")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_docs.py --update")
    sys.path.insert(0, str(ROOT))
    update_outputs()
