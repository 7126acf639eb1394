"""Share: each loop nest that occurs more than once becomes one helper function.

A stack of equal layers repeats the same nests (bias and tanh forward, their derivative
backward) once per layer, and Numba's compile time follows the number of nests it compiles:
20 inline copies cost 20 times one. Two nests are the same when their code is, up to the
names of values and fresh locals (``canonical_text``; comments aside), and their parameters
have the same shapes and dtypes. Each such nest is then written once as ``_loop<k>`` and its
blocks become calls of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..core.ir import Atom, atom_key
from .emit import STATEMENT_WEIGHT, Code
from .text import extent_lines
from .writer import Names

# Identifiers in generated lines (not attributes like ``np.float32``), and fresh names.
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_FRESH = re.compile(r"_(?!ext\d)[a-z]+\d+")


@dataclass
class _Occurrence:
    code: Code
    params: list[Atom]  # the values it reads from outside, in order
    text: str  # its lines with positional names


def share_repeated_loops(
    codes: list[Code], names: Names, njit_options: Callable[[bool], str]
) -> list[str]:
    """Replace repeated loop nests in ``codes`` by calls; returns the helpers' source text.

    ``njit_options(parallel)`` is the decorators' options for a helper with or without a
    ``numba.prange`` loop."""
    value_names = set(names.of.values())
    groups: dict[str, list[_Occurrence]] = {}
    for code in codes:
        if code.block.eqn is None:
            params, text = canonical_text(code, names, value_names)
            plain = "\n".join(line.split("#")[0].rstrip() for line in text.splitlines())
            # Loop bounds are read from the parameters' shapes: those must match too.
            shapes = repr([(a.aval.shape, a.aval.dtype.name) for a in params])
            groups.setdefault(plain + shapes, []).append(_Occurrence(code, params, text))
    helpers: list[str] = []
    for occurrences in groups.values():
        if len(occurrences) > 1:
            fname = f"_loop{len(helpers) + 1}"
            options = njit_options(occurrences[0].code.parallel)
            helpers.append(_helper(fname, occurrences[0], options))
            for occurrence in occurrences:
                _call_instead(occurrence, fname, names)
    return helpers


def _helper(fname: str, first: _Occurrence, njit_options: str) -> str:
    """The source of helper ``fname``: ``first``'s text as a function of its parameters."""
    n = len(first.params)
    args = [f"v{k}" for k in range(n)]
    avals = [a.aval for a in first.params]
    results = [f"v{k}" for k in range(n, n + len(first.code.defs))]
    body = [*extent_lines(args, avals, first.code.extents), *first.text.splitlines()]
    if results:
        body.append("return " + ", ".join(results))
    header = f"\n\n@numba.njit({njit_options})\ndef {fname}({', '.join(args)}):\n"
    return header + "\n".join("    " + line for line in body)


def _call_instead(occurrence: _Occurrence, fname: str, names: Names) -> None:
    """Make the occurrence's block one call of the helper (keeping its heading comment)."""
    code = occurrence.code
    call = f"{fname}({', '.join(names.name(a) for a in occurrence.params)})"
    if code.defs:
        call = ", ".join(names.name(v) for v in code.defs) + " = " + call
    code.lines = [*([code.heading] if code.heading else []), call]
    code.extents = set()
    code.weight = STATEMENT_WEIGHT
    code.parallel = False  # the helper runs the prange, compiled with parallel=True


def canonical_text(code: Code, names: Names, value_names: set[str]) -> tuple[list[Atom], str]:
    """A loop block's parameters, and its text with every name made positional.

    Parameters (the values it reads from outside) become ``v0, v1, ...``, then the values
    it defines, then its other members; their scalar locals and accumulators follow
    (``v3_``, ``v3_acc``), and fresh names become ``_f0, _f1, ...``. The text is the body
    of the helper that ``share_repeated_loops`` writes for it.
    """
    params: list[Atom] = []
    seen: set[tuple] = set()
    for a in code.uses:
        if atom_key(a) not in seen:
            seen.add(atom_key(a))
            params.append(a)
    rename: dict[str, str] = {}

    def number(name: str) -> None:
        if name not in rename:
            positional = f"v{len(rename) // 3}"
            for suffix in ("", "_", "_acc"):
                rename[name + suffix] = positional + suffix

    for a in [*params, *code.defs, *(m.out for m in code.block.members)]:
        number(names.name(a))
    fresh: dict[str, str] = {}

    def token(match: re.Match) -> str:
        word = match.group(0)
        if word not in rename and word in value_names:  # e.g. a view in a comment
            number(word)
        if word in rename:
            return rename[word]
        if _FRESH.fullmatch(word):
            return fresh.setdefault(word, f"_f{len(fresh)}")
        return word

    text = "\n".join(_IDENTIFIER.sub(token, line) for line in code.lines)
    return params, text
