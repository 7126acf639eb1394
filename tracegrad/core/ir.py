"""The straight-line, typed SSA intermediate representation.

A :class:`Program` has typed input variables, a list of equations (each one
primitive applied to variables or literals, producing one new variable) and a
list of outputs.  Every variable carries an :class:`Aval` (shape and dtype), so
a program can be checked, optimised and compiled without running it.
"""

from __future__ import annotations

import itertools
import keyword
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .primitives import Primitive


@dataclass(frozen=True)
class Aval:
    """Abstract value: what the IR knows about an array (shape and dtype)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        # Byte order is a property of a buffer, not of an abstract value: '>f8' is float64.
        object.__setattr__(self, "dtype", np.dtype(self.dtype).newbyteorder("="))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self) -> str:
        dims = ",".join(str(d) for d in self.shape)
        return f"{short_dtype(self.dtype)}[{dims}]"

    @staticmethod
    def of(value: Any) -> Aval:
        value = np.asarray(value)
        return Aval(value.shape, value.dtype)


_DTYPE_SHORT = {
    "float64": "f64",
    "float32": "f32",
    "complex128": "c128",
    "complex64": "c64",
    "int64": "i64",
    "int32": "i32",
    "bool": "bool",
}


def short_dtype(dtype: np.dtype) -> str:
    return _DTYPE_SHORT.get(np.dtype(dtype).name, np.dtype(dtype).name)


_var_ids = itertools.count()


@dataclass(frozen=True, eq=False)
class Var:
    """A variable: defined once (as a program input or by one equation).

    ``hint`` is the name the user gave the value (a parameter name or pytree path, such as
    ``W1``, or ``grad_W1`` for its gradient), shown by the printer and the generated source
    where it is unique.  It never affects what a program computes or how it is cached.
    """

    aval: Aval
    uid: int = field(default_factory=lambda: next(_var_ids))
    hint: str = ""

    def __hash__(self) -> int:
        return self.uid

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        return f"Var#{self.uid}:{self.aval}"


@dataclass(frozen=True, eq=False)
class Literal:
    """A constant known when the program is built: a Python number or a closure array."""

    value: np.ndarray
    aval: Aval

    @staticmethod
    def make(value: Any, dtype: Any = None) -> Literal:
        array = np.array(value, dtype=dtype)
        array.setflags(write=False)
        return Literal(array, Aval(array.shape, array.dtype))

    @property
    def is_scalar(self) -> bool:
        return self.value.ndim == 0

    def key(self) -> tuple:
        """A hashable identity for value-based comparisons (CSE, caches)."""
        v = self.value
        if v.ndim == 0:
            return ("scalar", v.dtype.str, v.item())
        return ("array", v.dtype.str, v.shape, v.tobytes())

    def __repr__(self) -> str:
        return f"Literal({format_literal(self)})"


Atom = Var | Literal


def atom_key(a: Atom) -> tuple:
    """A hashable identity of an atom: a variable by itself, a literal by its value."""
    return ("var", a.uid) if isinstance(a, Var) else a.key()


@dataclass(frozen=True, eq=False)
class Eqn:
    """``out = prim(*inputs, **params)``."""

    prim: Primitive
    inputs: tuple[Atom, ...]
    out: Var
    params: dict[str, Any]

    def params_key(self) -> tuple:
        return tuple(sorted((k, _freeze(v)) for k, v in self.params.items()))


def _freeze(value: Any) -> Any:
    if isinstance(value, SubProgram):
        return value.key
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.dtype):
        return value.str
    return value


@dataclass
class Program:
    """A straight-line program: ``inputs -> eqns -> outputs``."""

    inputs: list[Var]
    eqns: list[Eqn]
    outputs: list[Atom]

    @property
    def in_avals(self) -> list[Aval]:
        return [v.aval for v in self.inputs]

    @property
    def out_avals(self) -> list[Aval]:
        return [v.aval for v in self.outputs]

    def __str__(self) -> str:
        return pretty(self)

    def __repr__(self) -> str:
        return pretty(self)


@dataclass(frozen=True, eq=False)
class SubProgram:
    """A closed Program carried as a parameter of a higher-order equation (a loop body, a
    branch).  Equal by structure, not identity, so CSE shares equal loops and caches share
    their compiled code; the key holds constant values, unlike the printed text."""

    program: Program
    # For reverse mode: this body is ``extends``'s with extra (residual) outputs appended, so a
    # loop over it also computes the loop over ``extends`` (passes.share_loops).  Not part of
    # the key: it says how the body was made, not what it computes.
    extends: SubProgram | None = None

    @property
    def key(self) -> tuple:
        key = self.__dict__.get("_key")
        if key is None:
            key = structure(self.program)
            object.__setattr__(self, "_key", key)
        return key

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubProgram) and (other is self or other.key == self.key)

    def __str__(self) -> str:
        return pretty(self.program)

    __repr__ = __str__


def structure(program: Program) -> tuple:
    """A hashable key of what ``program`` computes: variables numbered by position, literals
    by value, sub-programs recursively; hints left out."""
    numbers: dict[Var, int] = {v: i for i, v in enumerate(program_vars(program))}

    def ref(a: Atom) -> Any:
        return ("v", numbers[a]) if isinstance(a, Var) else a.key()

    return (
        tuple((str(v.aval.shape), v.aval.dtype.str) for v in program.inputs),
        tuple(
            (e.prim.name, e.params_key(), tuple(ref(a) for a in e.inputs), e.out.aval.dtype.str)
            for e in program.eqns
        ),
        tuple(ref(a) for a in program.outputs),
    )


def sub_programs(eqn: Eqn) -> list[Program]:
    """The programs an equation carries as parameters (none for first-order primitives)."""
    found = []
    for value in eqn.params.values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, SubProgram):
                found.append(item.program)
    return found


class IRCheckError(Exception):
    """The IR is malformed: a bug in tracegrad (a transform or a rule), not in user code."""


def check(program: Program) -> Program:
    """Validate SSA form and every equation's types against its primitive's shape rule."""
    defined: set[Var] = set()
    checked: set[int] = set()
    for v in program.inputs:
        if not isinstance(v, Var):
            raise IRCheckError(f"program input {v!r} is not a Var")
        _define(v, defined, "program inputs")
    for i, eqn in enumerate(program.eqns):
        where = f"equation {i} ({eqn.prim.name})"
        for a in eqn.inputs:
            _check_atom(a, defined, where)
        expected = eqn.prim.abstract_eval(*(a.aval for a in eqn.inputs), **eqn.params)
        if expected != eqn.out.aval:
            raise IRCheckError(f"{where}: output is {eqn.out.aval} but the rule gives {expected}")
        _define(eqn.out, defined, where)
        for body in sub_programs(eqn):  # closed: its own scope, checked on its own
            if id(body) not in checked:  # once per loop, not once per result
                checked.add(id(body))
                check(body)
    for a in program.outputs:
        _check_atom(a, defined, "program output")
    return program


def _define(v: Var, defined: set[Var], where: str) -> None:
    if v in defined:
        raise IRCheckError(f"{where}: {v!r} is defined twice")
    defined.add(v)


def _check_atom(a: Atom, defined: set[Var], where: str) -> None:
    if isinstance(a, Literal):
        if Aval(a.value.shape, a.value.dtype) != a.aval:
            raise IRCheckError(f"{where}: literal aval {a.aval} does not match its value")
        return
    if not isinstance(a, Var):
        raise IRCheckError(f"{where}: {a!r} is neither a Var nor a Literal")
    if a not in defined:
        raise IRCheckError(f"{where}: {a!r} is used before it is defined")


# ---------------------------------------------------------------------------------------------
# Pretty printing: { lambda a:f64[3] ; b:f64[3] = sin a ; c:f64[3] = mul b a ; in (c) }


def _names() -> Iterable[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    for n in itertools.count(1):
        for combo in itertools.product(letters, repeat=n):
            yield "".join(combo)


def name_var(var: Var, hint: str) -> None:
    """Give ``var`` a display name, unless it has one (the first name given wins)."""
    if not var.hint:
        object.__setattr__(var, "hint", hint)  # display only: identity and meaning unchanged


def display_names(
    variables: Iterable[Var],
    reserved: Iterable[str] = (),
    usable: Callable[[str], bool] = str.isidentifier,
) -> dict[Var, str]:
    """Names for ``variables`` in order: a Var's hint where no other Var shares it and
    ``usable(hint)``, otherwise a fresh ``a, b, ..., aa, ...`` name that clashes with neither
    those hints nor ``reserved``.  ``usable=lambda h: False`` gives letters only."""
    ordered = list(dict.fromkeys(variables))
    taken = set(reserved) | set(keyword.kwlist)
    counts: dict[str, int] = {}
    for v in ordered:
        counts[v.hint] = counts.get(v.hint, 0) + 1
    usable = {
        h
        for h, n in counts.items()
        if h and n == 1 and h.isidentifier() and h not in taken and usable(h)
    }
    fresh = (n for n in _names() if n not in usable and n not in taken)
    return {v: v.hint if v.hint in usable else next(fresh) for v in ordered}


def program_vars(program: Program) -> list[Var]:
    """Every Var of ``program`` in order of definition (inputs, then equation outputs)."""
    return list(program.inputs) + [eqn.out for eqn in program.eqns]


def format_literal(lit: Literal) -> str:
    v = lit.value
    if v.ndim == 0:
        item = v.item()
        text = repr(item) if not isinstance(item, float) else f"{item!r}"
        return f"{text}:{short_dtype(v.dtype)}" if v.dtype != np.float64 else text
    return f"const{lit.aval}"


def format_params(params: dict[str, Any], structural: bool = False) -> str:
    """``[k=v, ...]``; sub-programs as nested, indented ``{ lambda ... }`` blocks, or by their
    full structural key (with constant values) when ``structural``, for cache keys."""
    parts = []
    for k, v in params.items():
        if isinstance(v, np.dtype):
            v = short_dtype(v)
        elif isinstance(v, SubProgram) or (
            isinstance(v, tuple) and v and isinstance(v[0], SubProgram)
        ):
            subs = v if isinstance(v, tuple) else (v,)
            texts = [repr(s.key) if structural else _indent(str(s)) for s in subs]
            v = "(" + ", ".join(texts) + ")" if isinstance(v, tuple) else texts[0]
        parts.append(f"{k}={v}")
    return "[" + ", ".join(parts) + "]" if parts else ""


def _indent(text: str) -> str:
    return text.replace("\n", "\n        ")


def pretty(program: Program, names: dict[Var, str] | None = None) -> str:
    """Render a program with ``names`` (default: :func:`display_names`, in order of
    definition)."""
    if names is None:
        names = display_names(program_vars(program) + [v for v in program.outputs if _is_var(v)])

    def name(a: Atom) -> str:
        return format_literal(a) if isinstance(a, Literal) else names[a]

    ins = " ".join(f"{name(v)}:{v.aval}" for v in program.inputs)
    lines = [f"{{ lambda {ins} ;"]
    shown: dict[tuple, str] = {}  # a loop's results after the first: "same as" its first
    for eqn in program.eqns:
        args = " ".join(name(a) for a in eqn.inputs)
        head = f"{eqn.prim.name}{_params_once(eqn, name(eqn.out), shown)}"
        lines.append(f"    {name(eqn.out)}:{eqn.out.aval} = {head} {args}")
    outs = ", ".join(name(a) for a in program.outputs)
    lines.append(f"  in ({outs}) }}")
    return "\n".join(lines)


def _params_once(eqn: Eqn, out: str, shown: dict[tuple, str]) -> str:
    """Params, with the sub-programs of a group member already printed replaced by a
    reference to the first member, so a loop with many results prints its body once."""
    if not sub_programs(eqn):
        return format_params(eqn.params)
    params = tuple((k, v) for k, v in eqn.params_key() if k != "index")
    key = (eqn.prim.name, params, tuple(atom_key(a) for a in eqn.inputs))
    if key in shown:
        return f"[index={eqn.params.get('index')}, same loop as {shown[key]}]"
    shown[key] = out
    return format_params(eqn.params)


def _is_var(atom: Atom) -> bool:
    return isinstance(atom, Var)


def uses(program: Program) -> dict[Var, int]:
    """How many times each variable is read (by equations and as an output)."""
    counts: dict[Var, int] = {}
    for eqn in program.eqns:
        for a in eqn.inputs:
            if isinstance(a, Var):
                counts[a] = counts.get(a, 0) + 1
    for a in program.outputs:
        if isinstance(a, Var):
            counts[a] = counts.get(a, 0) + 1
    return counts


def substitute(atoms: Sequence[Atom], mapping: dict[Var, Atom]) -> tuple[Atom, ...]:
    return tuple(mapping.get(a, a) if isinstance(a, Var) else a for a in atoms)
