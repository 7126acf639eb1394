"""Pytrees: nested containers of arrays, flattened to a list of leaves plus a structure.

A pytree is any nesting of these containers; everything else is a leaf:

- ``tuple`` and ``list``: children in order.
- ``dict``: children in key order. Keys are sorted when they are mutually comparable, so
  ``{"b": 1, "a": 2}`` and ``{"a": 2, "b": 1}`` have the same structure; otherwise insertion
  order is kept. ``tree_unflatten`` rebuilds the dict with its keys in that (sorted) order.
- ``collections.OrderedDict``: children in insertion order (the order is part of its value).
- ``None``: a container with no children, *not* a leaf. ``tree_leaves(None) == []``.
- namedtuples (any ``tuple`` subclass with ``_fields``): children in field order.
- classes registered with :func:`register_pytree_node`.

Dispatch is on the exact type: a subclass of ``dict`` or ``list`` (other than a namedtuple) is
a leaf unless registered itself.

``tree_flatten`` runs on every call of a compiled function, so it is written for speed: one
dict lookup on ``type(x)`` per node, and structures are interned, so flattening the same
structure twice returns the *same* ``TreeDef`` object (equality is then an identity check).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

__all__ = [
    "LEAF",
    "TreeDef",
    "is_container_type",
    "register_pytree_node",
    "tree_flatten",
    "tree_leaves",
    "tree_leaves_with_path",
    "tree_map",
    "tree_structure",
    "tree_unflatten",
]

_NoneType = type(None)
_UIDS = itertools.count()


# ---------------------------------------------------------------------------------------------
# TreeDef
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TreeDef:
    """The structure of a pytree: node type, static data and child structures.

    ``node_type`` is ``None`` for a leaf; otherwise the container's type (``tuple``, ``dict``,
    ``type(None)``, a namedtuple class, a registered class). ``aux`` is the static data needed
    to rebuild the node: the dict keys in flattening order, or whatever a registered flatten
    function returned. ``aux`` must be hashable and comparable with ``==``.

    Hashing and equality are cheap: the hash is computed once at construction, and equal
    structures built by :func:`tree_flatten` are usually the same object.
    """

    node_type: type | None
    aux: Any = None
    children: tuple[TreeDef, ...] = ()
    _hash: int = field(init=False, repr=False)
    uid: int = field(init=False, repr=False, compare=False)
    _num_leaves: int = field(init=False, repr=False)
    # unflatten function generated on first use, see _make_builder
    _build_fn: Callable[[Sequence[Any]], Any] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            h = hash((self.node_type, self.aux, self.children))
        except TypeError:
            raise TypeError(
                f"pytree node {_type_name(self.node_type)} has unhashable static data "
                f"{self.aux!r}; the flatten function must return hashable auxiliary data "
                f"(e.g. a tuple instead of a list)"
            ) from None
        object.__setattr__(self, "_hash", h)
        # A number no other TreeDef in this process has: cheap to hash, for signature caches.
        # Interned structures are shared objects, so equal structures usually share it too.
        object.__setattr__(self, "uid", next(_UIDS))
        n = 1 if self.node_type is None else sum(c._num_leaves for c in self.children)
        object.__setattr__(self, "_num_leaves", n)
        object.__setattr__(self, "_build_fn", None)

    @property
    def num_leaves(self) -> int:
        """Number of leaves in a tree with this structure."""
        return self._num_leaves

    @property
    def is_leaf(self) -> bool:
        """True for the structure of a single leaf."""
        return self.node_type is None

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Same as ``tree_unflatten(self, leaves)``."""
        return tree_unflatten(self, leaves)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, TreeDef):
            return NotImplemented
        return (
            self._hash == other._hash
            and self.node_type is other.node_type
            and self.children == other.children
            and bool(self.aux == other.aux)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuild from the three defining fields; never pickle the generated builder
        return (TreeDef, (self.node_type, self.aux, self.children))

    def __repr__(self) -> str:
        return f"TreeDef({self._fmt()})"

    def _fmt(self) -> str:
        if self.node_type is None:
            return "*"
        parts = [c._fmt() for c in self.children]
        return _kind_of(self.node_type).fmt(self.node_type, self.aux, parts)


LEAF = TreeDef(None)
"""The structure of a single leaf (one shared instance)."""

# Interning table: (node_type, aux, children) -> TreeDef, where children is the tuple of child
# TreeDefs, or just their count when all are leaves (the common case; an int hashes without
# calling TreeDef.__hash__). Repeated flattens of one structure thus return the same object
# without constructing a dataclass. Cleared if it grows beyond _CACHE_LIMIT (equality stays
# structural, so that is only a slowdown).
_INTERN: dict[tuple[Any, Any, Any], TreeDef] = {}
_CACHE_LIMIT = 100_000


def _node(node_type: type, aux: Any, children: tuple[TreeDef, ...] | int) -> TreeDef:
    """Return the interned TreeDef for a container node (``children``: see ``_INTERN``)."""
    if not isinstance(children, int) and all(c is LEAF for c in children):
        children = len(children)  # one interning key per structure, however it was reached
    key = (node_type, aux, children)
    try:
        td = _INTERN.get(key)
    except TypeError:  # unhashable aux: let TreeDef raise its explanatory error
        td = None
    if td is None:
        kids = (LEAF,) * children if isinstance(children, int) else children
        td = TreeDef(node_type, aux, kids)
        if len(_INTERN) >= _CACHE_LIMIT:
            _INTERN.clear()
        _INTERN[key] = td
    return td


def _type_name(tp: type | None) -> str:
    return "leaf" if tp is None else getattr(tp, "__qualname__", repr(tp))


# ---------------------------------------------------------------------------------------------
# Node kinds: how each container type flattens, rebuilds, names its children and prints
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NodeKind:
    """Everything the module needs to know about one container type."""

    # flatten(x, leaves) appends x's leaves to ``leaves`` and returns x's TreeDef.
    flatten: Callable[[Any, list[Any]], TreeDef]
    # unflatten(node_type, aux, children) rebuilds the container from its rebuilt children.
    unflatten: Callable[[type, Any, tuple[Any, ...]], Any]
    # keyed_children(x) returns [(path element, child), ...] in flattening order.
    keyed_children: Callable[[Any], list[tuple[str, Any]]]
    # fmt(node_type, aux, child strings) renders the node for TreeDef.__repr__.
    fmt: Callable[[type, Any, list[str]], str]


# type(x) -> flatten function, or None for a leaf type. Filled lazily for types not seen yet.
_DISPATCH: dict[type, Callable[[Any, list[Any]], TreeDef] | None] = {}
# Container type -> its kind (namedtuple classes are added the first time they are seen).
_KINDS: dict[type, _NodeKind] = {}
# Built-in container types, which cannot be re-registered.
_BUILTIN = (tuple, list, dict, _NoneType, OrderedDict)
# Types known to be leaves (those mapped to None in _DISPATCH), for a set-based fast path.
_LEAF_TYPES: set[type] = set()
_UNSEEN = object()


def _flatten(x: Any, leaves: list[Any]) -> TreeDef:
    """Append the leaves of ``x`` to ``leaves`` and return its structure."""
    tp = type(x)
    fn = _DISPATCH.get(tp, _UNSEEN)
    if fn is _UNSEEN:
        fn = _resolve(tp)
    if fn is None:
        leaves.append(x)
        return LEAF
    return fn(x, leaves)


def _flatten_children(children: Sequence[Any], leaves: list[Any]) -> tuple[TreeDef, ...] | int:
    """Flatten each child; return their TreeDefs, or their count if all are leaves."""
    # Fast path, the common case (a tuple of arrays, a dict of parameters): every child's type
    # is a known leaf type, checked without a Python-level loop.
    if _LEAF_TYPES.issuperset(map(type, children)):
        leaves.extend(children)
        return len(children)
    return _flatten_each(children, leaves)


def _flatten_each(children: Sequence[Any], leaves: list[Any]) -> tuple[TreeDef, ...]:
    """Flatten each child and return their TreeDefs (leaf case inlined)."""
    kids: list[TreeDef] = []
    get = _DISPATCH.get
    for c in children:
        fn = get(type(c), _UNSEEN)
        if fn is None:
            leaves.append(c)
            kids.append(LEAF)
        else:
            kids.append(_flatten(c, leaves) if fn is _UNSEEN else fn(c, leaves))
    return tuple(kids)


def _resolve(tp: type) -> Callable[[Any, list[Any]], TreeDef] | None:
    """Classify a type not seen before (namedtuple or leaf) and cache the answer."""
    kind = _KINDS.get(tp)
    if kind is None and issubclass(tp, tuple) and hasattr(tp, "_fields"):
        kind = _KINDS[tp] = _NAMEDTUPLE
    if kind is None:
        _LEAF_TYPES.add(tp)
        _DISPATCH[tp] = None
        return None
    _DISPATCH[tp] = kind.flatten
    return kind.flatten


def is_container_type(tp: type) -> bool:
    """Whether values of type ``tp`` are pytree nodes (containers) rather than leaves."""
    fn = _DISPATCH.get(tp, _UNSEEN)
    if fn is _UNSEEN:
        fn = _resolve(tp)
    return fn is not None


def _kind_of(tp: type) -> _NodeKind:
    kind = _KINDS.get(tp)
    if kind is None:
        _resolve(tp)
        kind = _KINDS.get(tp)
        if kind is None:
            raise TypeError(f"{_type_name(tp)} is not a pytree container type")
    return kind


# Insertion-order keys -> (flattening-order keys, function returning the values in that
# order). Dicts built by the same code insert their keys in the same order, and a lookup is
# cheaper than sorting.
_DICT_ORDER: dict[tuple[Any, ...], tuple[tuple[Any, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _dict_order(d: dict[Any, Any]) -> tuple[tuple[Any, ...], Callable[[Any], tuple[Any, ...]]]:
    """Keys in flattening order (sorted if they can be compared, else insertion order), and a
    getter returning the values in that order."""
    keys = tuple(d)
    out = _DICT_ORDER.get(keys)
    if out is None:
        try:
            order = tuple(sorted(keys))
        except TypeError:
            order = keys
        if len(order) == 1:
            getter = _one_value_getter(order[0])
        else:
            getter = itemgetter(*order) if order else (lambda d: ())
        out = (order, getter)
        if len(_DICT_ORDER) >= _CACHE_LIMIT:
            _DICT_ORDER.clear()
        _DICT_ORDER[keys] = out
    return out


def _one_value_getter(key: Any) -> Callable[[Any], tuple[Any, ...]]:
    return lambda d: (d[key],)


def _seq_items(x: Any) -> list[tuple[str, Any]]:
    return [(f"[{i}]", c) for i, c in enumerate(x)]


# --- tuple ------------------------------------------------------------------------------------


# tuple, list and dict inline the all-leaves fast path of _flatten_children and the interning
# lookup of _node: on this hot path every saved Python call counts.


def _flatten_tuple(x: tuple[Any, ...], leaves: list[Any]) -> TreeDef:
    if _LEAF_TYPES.issuperset(map(type, x)):
        leaves.extend(x)
        return _INTERN.get((tuple, None, len(x))) or _node(tuple, None, len(x))
    return _node(tuple, None, _flatten_each(x, leaves))


def _fmt_tuple(tp: type, aux: Any, parts: list[str]) -> str:
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


_KINDS[tuple] = _NodeKind(_flatten_tuple, lambda tp, aux, kids: kids, _seq_items, _fmt_tuple)


# --- list -------------------------------------------------------------------------------------


def _flatten_list(x: list[Any], leaves: list[Any]) -> TreeDef:
    if _LEAF_TYPES.issuperset(map(type, x)):
        leaves.extend(x)
        return _INTERN.get((list, None, len(x))) or _node(list, None, len(x))
    return _node(list, None, _flatten_each(x, leaves))


_KINDS[list] = _NodeKind(
    _flatten_list,
    lambda tp, aux, kids: list(kids),
    _seq_items,
    lambda tp, aux, parts: "[" + ", ".join(parts) + "]",
)


# --- dict -------------------------------------------------------------------------------------


def _flatten_dict(x: dict[Any, Any], leaves: list[Any]) -> TreeDef:
    keys = tuple(x)
    order = _DICT_ORDER.get(keys) or _dict_order(x)
    keys = order[0]
    values = order[1](x)
    if _LEAF_TYPES.issuperset(map(type, values)):
        leaves.extend(values)
        return _INTERN.get((dict, keys, len(keys))) or _node(dict, keys, len(keys))
    return _node(dict, keys, _flatten_each(values, leaves))


def _fmt_dict_body(aux: tuple[Any, ...], parts: list[str]) -> str:
    return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(aux, parts, strict=True)) + "}"


_KINDS[dict] = _NodeKind(
    _flatten_dict,
    lambda tp, aux, kids: dict(zip(aux, kids, strict=True)),
    lambda x: [(f"[{k!r}]", x[k]) for k in _dict_order(x)[0]],
    lambda tp, aux, parts: _fmt_dict_body(aux, parts),
)


# --- OrderedDict ------------------------------------------------------------------------------


def _flatten_ordered_dict(x: OrderedDict[Any, Any], leaves: list[Any]) -> TreeDef:
    keys = tuple(x)
    return _node(OrderedDict, keys, _flatten_children(tuple(x.values()), leaves))


_KINDS[OrderedDict] = _NodeKind(
    _flatten_ordered_dict,
    lambda tp, aux, kids: OrderedDict(zip(aux, kids, strict=True)),
    lambda x: [(f"[{k!r}]", v) for k, v in x.items()],
    lambda tp, aux, parts: f"OrderedDict({_fmt_dict_body(aux, parts)})",
)


# --- None -------------------------------------------------------------------------------------

_NONE_DEF = _node(_NoneType, None, 0)

_KINDS[_NoneType] = _NodeKind(
    lambda x, leaves: _NONE_DEF,
    lambda tp, aux, kids: None,
    lambda x: [],
    lambda tp, aux, parts: "None",
)


# --- namedtuple (shared by every namedtuple class; aux is unused, the class is node_type) -----


def _flatten_namedtuple(x: tuple[Any, ...], leaves: list[Any]) -> TreeDef:
    return _node(type(x), None, _flatten_children(x, leaves))


def _fmt_namedtuple(tp: type, aux: Any, parts: list[str]) -> str:
    fields = ", ".join(f"{f}={p}" for f, p in zip(tp._fields, parts, strict=True))
    return f"{tp.__name__}({fields})"


_NAMEDTUPLE = _NodeKind(
    _flatten_namedtuple,
    lambda tp, aux, kids: tp(*kids),
    lambda x: [(f".{f}", c) for f, c in zip(x._fields, x, strict=True)],
    _fmt_namedtuple,
)

for _tp, _kind in list(_KINDS.items()):
    _DISPATCH[_tp] = _kind.flatten


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


def register_pytree_node(
    cls: type,
    flatten_fn: Callable[[Any], tuple[Iterable[Any], Any]],
    unflatten_fn: Callable[[Any, tuple[Any, ...]], Any],
) -> None:
    """Make instances of ``cls`` (exactly that type, not subclasses) pytree containers.

    ``flatten_fn(obj) -> (children, aux)``: the children (pytrees themselves) and static,
    hashable auxiliary data. ``unflatten_fn(aux, children) -> obj`` rebuilds the object from
    the same ``aux`` and a tuple of (possibly transformed) children.

    Raises ``ValueError`` if ``cls`` is a built-in container or already registered.
    """
    if cls in _BUILTIN or _KINDS.get(cls, _NAMEDTUPLE) is not _NAMEDTUPLE:
        raise ValueError(f"{_type_name(cls)} is already registered as a pytree node")

    def flatten(x: Any, leaves: list[Any]) -> TreeDef:
        children, aux = flatten_fn(x)
        if not isinstance(children, (list, tuple)):
            children = tuple(children)
        return _node(cls, aux, _flatten_children(children, leaves))

    def fmt(tp: type, aux: Any, parts: list[str]) -> str:
        return f"{tp.__name__}[{aux!r}](" + ", ".join(parts) + ")"

    _KINDS[cls] = _NodeKind(
        flatten,
        lambda tp, aux, kids: unflatten_fn(aux, kids),
        lambda x: _seq_items(flatten_fn(x)[0]),
        fmt,
    )
    _DISPATCH[cls] = flatten
    _LEAF_TYPES.discard(cls)


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------


def tree_flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """Return the leaves of ``tree`` (left to right) and its structure."""
    fn = _DISPATCH.get(type(tree), _UNSEEN)
    if fn is None:
        return [tree], LEAF
    leaves: list[Any] = []
    return leaves, (_flatten(tree, leaves) if fn is _UNSEEN else fn(tree, leaves))


def tree_leaves(tree: Any) -> list[Any]:
    """Return the leaves of ``tree`` in flattening order."""
    leaves: list[Any] = []
    _flatten(tree, leaves)
    return leaves


def tree_structure(tree: Any) -> TreeDef:
    """Return the structure of ``tree``."""
    return _flatten(tree, [])


# Structures larger than this are rebuilt by a recursive walk instead of generated code.
_MAX_GENERATED_LEAVES = 2000
_MAX_GENERATED_DEPTH = 40


def _build(td: TreeDef, it: Iterator[Any]) -> Any:
    """Rebuild a tree from an iterator over its leaves by walking ``td`` (the slow path)."""
    if td.node_type is None:
        return next(it)
    kids = tuple([next(it) if c.node_type is None else _build(c, it) for c in td.children])
    tp = td.node_type
    return _kind_of(tp).unflatten(tp, td.aux, kids)


def _depth(td: TreeDef) -> int:
    return 1 + max((_depth(c) for c in td.children), default=0)


def _make_builder(td: TreeDef) -> Callable[[Sequence[Any]], Any]:
    """Generate, once per structure, a function that rebuilds the tree from a leaf sequence.

    For ``{'b': *, 'W': (*, None)}`` it is ``lambda l: {'W': (l[0], None), 'b': l[1]}`` (with
    the keys passed in as closure variables), which is several times faster than walking the
    TreeDef on every call.
    """
    if td.num_leaves > _MAX_GENERATED_LEAVES or _depth(td) > _MAX_GENERATED_DEPTH:
        return lambda leaves: _build(td, iter(leaves))
    consts: list[Any] = []
    index = iter(range(td.num_leaves))

    def const(obj: Any) -> str:
        consts.append(obj)
        return f"c{len(consts) - 1}"

    def expr(t: TreeDef) -> str:
        tp = t.node_type
        if tp is None:
            return f"l[{next(index)}]"
        parts = [expr(c) for c in t.children]
        if tp is tuple:
            return "(" + "".join(p + ", " for p in parts) + ")"
        if tp is list:
            return "[" + ", ".join(parts) + "]"
        if tp is dict:
            items = (f"{const(k)}: {p}" for k, p in zip(t.aux, parts, strict=True))
            return "{" + ", ".join(items) + "}"
        if tp is _NoneType:
            return "None"
        fn = const(_kind_of(tp).unflatten)
        kids = "(" + "".join(p + ", " for p in parts) + ")"
        return f"{fn}({const(tp)}, {const(t.aux)}, {kids})"

    body = expr(td)
    args = ", ".join(f"c{i}" for i in range(len(consts)))
    src = f"def make({args}):\n    def build(l):\n        return {body}\n    return build\n"
    namespace: dict[str, Any] = {}
    exec(compile(src, "<tracegrad.tree builder>", "exec"), namespace)
    return namespace["make"](*consts)


def tree_unflatten(treedef: TreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuild a tree of structure ``treedef`` from its leaves (inverse of ``tree_flatten``).

    Raises ``ValueError`` if the number of leaves does not match ``treedef.num_leaves``.
    """
    if not isinstance(leaves, (list, tuple)):
        leaves = list(leaves)
    if len(leaves) != treedef._num_leaves:
        raise ValueError(
            f"tree_unflatten: structure {treedef} has {treedef.num_leaves} leaves, "
            f"but {len(leaves)} were given"
        )
    build = treedef._build_fn
    if build is None:
        build = _make_builder(treedef)
        object.__setattr__(treedef, "_build_fn", build)
    return build(leaves)


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``f`` to corresponding leaves of ``tree`` and ``rest``; keep ``tree``'s structure.

    Every tree in ``rest`` must have exactly the structure of ``tree``; otherwise a
    ``ValueError`` names both structures.
    """
    leaves, treedef = tree_flatten(tree)
    if not rest:
        return tree_unflatten(treedef, [f(x) for x in leaves])
    all_leaves = [leaves]
    for i, other in enumerate(rest, start=1):
        other_leaves, other_def = tree_flatten(other)
        if other_def != treedef:
            raise ValueError(
                f"tree_map: tree argument {i} has structure {other_def}, which differs "
                f"from the first tree's structure {treedef}"
            )
        all_leaves.append(other_leaves)
    return tree_unflatten(treedef, [f(*xs) for xs in zip(*all_leaves, strict=True)])


def tree_leaves_with_path(tree: Any) -> list[tuple[str, Any]]:
    """Return ``(path, leaf)`` pairs in flattening order, for error messages.

    A path is a string of accessors from the root: ``"['W1']"`` for a dict key, ``"[0]"``
    for a sequence (or registered node) child, ``".field"`` for a namedtuple field, e.g.
    ``"[0]['W1']"``. A tree that is itself a leaf has path ``""``.
    """
    out: list[tuple[str, Any]] = []

    def walk(x: Any, path: str) -> None:
        tp = type(x)
        fn = _DISPATCH.get(tp, _UNSEEN)
        if fn is _UNSEEN:
            fn = _resolve(tp)
        if fn is None:
            out.append((path, x))
            return
        for key, child in _KINDS[tp].keyed_children(x):
            walk(child, path + key)

    walk(tree, "")
    return out
