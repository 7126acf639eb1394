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
