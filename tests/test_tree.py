"""Tests for tracegrad.tree: flatten/unflatten round trips, structure equality, tree_map, paths."""

import pickle
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracegrad.tree import (
    LEAF,
    TreeDef,
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_leaves_with_path,
    tree_map,
    tree_structure,
    tree_unflatten,
)

Point = namedtuple("Point", ["x", "y"])
Empty = namedtuple("Empty", [])


class Box:
    """A registered container: two children and a static label."""

    def __init__(self, a, b, label="box"):
        self.a, self.b, self.label = a, b, label

    def __eq__(self, other):
        return type(other) is Box and (self.a, self.b, self.label) == (
            other.a,
            other.b,
            other.label,
        )


register_pytree_node(
    Box, lambda box: ((box.a, box.b), box.label), lambda label, kids: Box(*kids, label)
)


class Unregistered:
    pass


def roundtrip(tree):
    leaves, treedef = tree_flatten(tree)
    assert len(leaves) == treedef.num_leaves
    return tree_unflatten(treedef, leaves)


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tree, n_leaves",
    [
        (1.0, 1),
        ((1, 2, 3), 3),
        ((), 0),
        ((7,), 1),
        ([1, [2, 3], []], 3),
        ({"b": 1, "a": (2, 3)}, 3),
        ({}, 0),
        (None, 0),
        ((None, 1, [None]), 1),
        (Point(1, (2, 3)), 3),
        (Empty(), 0),
        (OrderedDict([("z", 1), ("a", 2)]), 2),
        (Box(1, [2, None], "lbl"), 2),
        ({"p": Point(Box(1, 2), None), "q": [OrderedDict(k=3)]}, 3),
    ],
)
def test_roundtrip(tree, n_leaves):
    leaves, treedef = tree_flatten(tree)
    assert len(leaves) == n_leaves == treedef.num_leaves
    out = tree_unflatten(treedef, leaves)
    assert out == tree
    assert type(out) is type(tree)
    assert tree_structure(out) == treedef


def test_large_and_deep_trees():
    wide = {"xs": list(range(3000)), "ys": tuple(range(5))}
    assert roundtrip(wide) == wide
    deep = 0
    for i in range(100):
        deep = [deep, (i, None)] if i % 2 else {"k": deep, "i": Point(i, None)}
    assert roundtrip(deep) == deep


def test_leaves_are_the_same_objects():
    params = {"W1": np.ones((2, 3)), "b1": np.zeros(3)}
    leaves, treedef = tree_flatten((params, np.arange(2.0)))
    assert leaves[0] is params["W1"] and leaves[1] is params["b1"]
    out = tree_unflatten(treedef, leaves)
    assert out[0]["W1"] is params["W1"]


def test_unflatten_accepts_any_iterable():
    _, treedef = tree_flatten([1, (2, 3)])
    assert tree_unflatten(treedef, iter("abc")) == ["a", ("b", "c")]
    assert tree_unflatten(treedef, ("a", "b", "c")) == ["a", ("b", "c")]


def test_unflatten_wrong_leaf_count():
    _, treedef = tree_flatten({"a": 1, "b": 2})
    with pytest.raises(ValueError, match="2 leaves, but 3 were given"):
        tree_unflatten(treedef, [1, 2, 3])
    with pytest.raises(ValueError, match="1 leaves, but 0 were given"):
        tree_unflatten(LEAF, [])


# --- containers -------------------------------------------------------------------------------


def test_dict_keys_sorted():
    leaves, treedef = tree_flatten({"b": 1, "a": 2, "c": 3})
    assert leaves == [2, 1, 3]
    assert treedef == tree_structure({"a": 0, "c": 0, "b": 0})
    out = tree_unflatten(treedef, leaves)
    assert list(out) == ["a", "b", "c"]


def test_dict_unsortable_keys_keep_insertion_order():
    tree = {"b": 1, 2: "x", None: 3}
    leaves, treedef = tree_flatten(tree)
    assert leaves == [1, "x", 3]
    assert list(tree_unflatten(treedef, leaves)) == ["b", 2, None]


def test_ordered_dict_keeps_order():
    a = OrderedDict([("z", 1), ("a", 2)])
    b = OrderedDict([("a", 2), ("z", 1)])
    assert tree_leaves(a) == [1, 2]
    assert tree_structure(a) != tree_structure(b)
    assert tree_structure(a) != tree_structure(dict(a))


def test_none_is_an_empty_container():
    assert tree_leaves(None) == []
    assert tree_structure(None) != LEAF
    assert tree_structure(None).num_leaves == 0
    assert tree_leaves([None, 1, (None,)]) == [1]
    assert tree_map(lambda x: x + 1, (None, 1)) == (None, 2)


def test_namedtuple_not_a_plain_tuple():
    assert tree_structure(Point(1, 2)) != tree_structure((1, 2))
    Other = namedtuple("Other", ["x", "y"])
    assert tree_structure(Point(1, 2)) != tree_structure(Other(1, 2))


def test_list_and_tuple_differ():
    assert tree_structure([1, 2]) != tree_structure((1, 2))


def test_unregistered_objects_and_subclasses_are_leaves():
    obj = Unregistered()
    assert tree_leaves([obj]) == [obj]

    class MyDict(dict):
        pass

    d = MyDict(a=1)
    assert tree_leaves(d) == [d]
    arr = np.ones(3)
    assert tree_leaves(arr)[0] is arr
    assert tree_structure(arr) is LEAF


def test_registered_class():
    box = Box({"w": 1}, (2, 3), "lbl")
    leaves, treedef = tree_flatten(box)
    assert leaves == [1, 2, 3]
    assert treedef.aux == "lbl"
    assert treedef != tree_structure(Box({"w": 1}, (2, 3), "other"))
    assert tree_unflatten(treedef, [4, 5, 6]) == Box({"w": 4}, (5, 6), "lbl")


def test_registered_generator_children():
    class Gen:
        def __init__(self, *xs):
            self.xs = xs

    register_pytree_node(Gen, lambda g: ((x for x in g.xs), None), lambda aux, kids: Gen(*kids))
    leaves, treedef = tree_flatten(Gen(1, [2]))
    assert leaves == [1, 2]
    assert tree_unflatten(treedef, [3, 4]).xs == (3, [4])


def test_register_after_seen_as_leaf():
    class Late:
        def __init__(self, v):
            self.v = v

    assert tree_leaves((Late(1), Late(2)))[0].v == 1  # seen as a leaf first
    register_pytree_node(Late, lambda o: ((o.v,), None), lambda aux, kids: Late(*kids))
    assert tree_leaves((Late(1), Late(2))) == [1, 2]


def test_register_twice_or_builtin_raises():
    with pytest.raises(ValueError, match="already registered"):
        register_pytree_node(Box, lambda b: ((), None), lambda aux, kids: None)
    with pytest.raises(ValueError, match="already registered"):
        register_pytree_node(dict, lambda b: ((), None), lambda aux, kids: None)


def test_unhashable_aux_raises_clear_error():
    class Bad:
        pass

    register_pytree_node(Bad, lambda b: ((), [1, 2]), lambda aux, kids: Bad())
    with pytest.raises(TypeError, match="unhashable static data"):
        tree_flatten(Bad())


# --- TreeDef ----------------------------------------------------------------------------------


def test_treedef_equality_and_hash():
    a = tree_structure({"W": np.ones(2), "b": (1.0, None)})
    b = tree_structure({"b": (2, None), "W": "anything"})
    assert a == b and hash(a) == hash(b)
    assert a is b  # interned
    assert a != tree_structure({"W": 1, "b": (1, 2)})
    assert a != tree_structure({"W": 1, "c": (1, None)})
    assert a != "not a treedef"
    assert len({a, b, tree_structure([1])}) == 2


def test_treedef_equality_is_structural_without_interning():
    a = tree_structure((1, {"k": [2]}))
    built = TreeDef(tuple, None, (LEAF, TreeDef(dict, ("k",), (TreeDef(list, None, (LEAF,)),))))
    assert built is not a
    assert built == a and hash(built) == hash(a)
    assert tree_unflatten(built, [1, 2]) == (1, {"k": [2]})


def test_treedef_is_frozen_and_picklable():
    treedef = tree_structure({"a": Point(1, [2])})
    with pytest.raises(AttributeError):
        treedef.aux = ("b",)
    tree_unflatten(treedef, [1, 2])  # create the cached builder before pickling
    copy = pickle.loads(pickle.dumps(treedef))
    assert copy == treedef
    assert tree_unflatten(copy, [1, 2]) == {"a": Point(1, [2])}


def test_treedef_repr():
    treedef = tree_structure(({"W1": 0, "b1": 0}, [None, Point(1, (2,))], 3))
    assert repr(treedef) == "TreeDef(({'W1': *, 'b1': *}, [None, Point(x=*, y=(*,))], *))"
    assert repr(LEAF) == "TreeDef(*)"
    assert repr(tree_structure(Box(1, 2, "L"))) == "TreeDef(Box['L'](*, *))"
    assert repr(tree_structure(OrderedDict(a=1))) == "TreeDef(OrderedDict({'a': *}))"


def test_num_leaves_and_is_leaf():
    assert LEAF.is_leaf and LEAF.num_leaves == 1
    treedef = tree_structure([1, (2, None, {"a": 3})])
    assert not treedef.is_leaf and treedef.num_leaves == 3


# --- tree_map ---------------------------------------------------------------------------------


def test_tree_map_single_and_multiple():
    tree = {"a": (1, 2), "b": [3]}
    assert tree_map(lambda x: x * 10, tree) == {"a": (10, 20), "b": [30]}
    assert tree_map(lambda x, y, z: x + y + z, tree, tree, tree) == {"a": (3, 6), "b": [9]}
    params = {"W": np.ones(2), "b": np.zeros(2)}
    grads = {"W": np.full(2, 2.0), "b": np.ones(2)}
    new = tree_map(lambda p, g: p - 0.5 * g, params, grads)
    np.testing.assert_allclose(new["W"], 0.0)
    np.testing.assert_allclose(new["b"], -0.5)


def test_tree_map_mismatch_names_both_structures():
    with pytest.raises(ValueError) as info:
        tree_map(lambda x, y: x + y, {"a": 1, "b": 2}, {"a": 1, "c": 2})
    msg = str(info.value)
    assert "{'a': *, 'b': *}" in msg and "{'a': *, 'c': *}" in msg
    with pytest.raises(ValueError, match="tree argument 2"):
        tree_map(lambda *xs: 0, (1, 2), (1, 2), (1, [2]))
    with pytest.raises(ValueError):
        tree_map(lambda x, y: 0, (1, None), (1, 2))


# --- paths ------------------------------------------------------------------------------------


def test_leaves_with_path():
    tree = ({"W1": 1, "b1": 2}, [3, Point(4, (5,))], None, Box(6, 7))
    paths = tree_leaves_with_path(tree)
    assert paths == [
        ("[0]['W1']", 1),
        ("[0]['b1']", 2),
        ("[1][0]", 3),
        ("[1][1].x", 4),
        ("[1][1].y[0]", 5),
        ("[3][0]", 6),
        ("[3][1]", 7),
    ]
    assert tree_leaves_with_path(np.float64(1.0)) == [("", 1.0)]
    assert tree_leaves_with_path({1: "a", "k": "b"}) == [("[1]", "a"), ("['k']", "b")]


# --- property-based round trips ---------------------------------------------------------------

Triple = namedtuple("Triple", ["p", "q", "r"])

leaf_values = st.one_of(st.integers(), st.text(max_size=3), st.booleans())


def extend(children):
    keys = st.one_of(st.text(max_size=3), st.integers(-5, 5))
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(keys, children, max_size=4),
        st.tuples(children, children, children).map(lambda t: Triple(*t)),
        st.tuples(children, children, st.sampled_from(["u", "v"])).map(lambda t: Box(*t)),
        st.lists(st.tuples(st.text(max_size=2), children), max_size=3).map(OrderedDict),
    )


trees = st.recursive(st.one_of(leaf_values, st.none()), extend, max_leaves=20)


@given(trees)
def test_roundtrip_property(tree):
    leaves, treedef = tree_flatten(tree)
    out = tree_unflatten(treedef, leaves)
    assert out == tree
    assert tree_structure(out) == treedef
    assert hash(tree_structure(out)) == hash(treedef)
    assert treedef.num_leaves == len(leaves)
    assert tree_leaves(tree) == leaves
    assert [leaf for _, leaf in tree_leaves_with_path(tree)] == leaves
    assert pickle.loads(pickle.dumps(treedef)) == treedef


@given(trees)
def test_tree_map_property(tree):
    leaves, treedef = tree_flatten(tree)
    tagged = tree_unflatten(treedef, list(range(len(leaves))))
    seen = []
    out = tree_map(lambda x, i: seen.append((x, i)) or i, tree, tagged)
    assert seen == [(x, i) for i, x in enumerate(leaves)]
    assert out == tagged
