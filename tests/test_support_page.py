"""The NumPy support page is generated from the dispatch tables and must match them."""

from pathlib import Path

from tracegrad.frontend import support

PAGE = Path(__file__).resolve().parent.parent / "docs" / "numpy-support.md"


def test_support_page_matches_dispatch_tables():
    assert PAGE.read_text() == support.render(), (
        "docs/numpy-support.md is stale: "
        "run `python -m tracegrad.frontend.support > docs/numpy-support.md`"
    )


def test_support_page_lists_core_functions_as_supported():
    functions = dict(support.function_table())
    ufuncs = dict(support.ufunc_table())
    for name in ("np.sum", "np.mean", "np.where", "np.concatenate", "np.einsum", "np.linalg.norm"):
        assert functions[name], name
    for name in ("np.sin", "np.exp", "np.maximum", "np.matmul"):
        assert ufuncs[name], name
    assert not ufuncs["np.bitwise_and"]


def test_every_unsupported_entry_has_a_reason_of_a_known_kind():
    reasons = support.reason_table()
    missing = sorted(name for name, ok in support.function_table() + support.ufunc_table()
                     if not ok and reasons[name] is None)  # fmt: skip
    assert not missing, f"unsupported entries without a reason in support.REASONS: {missing}"
    for name, reason in reasons.items():
        if reason is not None:
            assert reason[0] in (support.NOT_DIFFERENTIABLE, support.NO_TRACED_MEANING,
                                 support.PLANNED), name  # fmt: skip


def test_reasons_are_only_given_for_unsupported_entries():
    listed = dict(support.function_table() + support.ufunc_table())
    stale = sorted(name for name in support.REASONS if listed.get(name, True))
    assert not stale, f"support.REASONS names supported or unknown entries: {stale}"


def test_the_error_for_an_unsupported_function_gives_its_reason():
    import numpy as np
    import pytest

    import tracegrad as tg

    with pytest.raises(tg.UnsupportedNumpyFunction, match="no traced meaning: the output's shape"):
        tg.jit(lambda x: np.argwhere(x))(np.ones(3))
