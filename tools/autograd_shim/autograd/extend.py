"""autograd's ``primitive`` decorator, as ``tg.custom_vjp``.

autograd differentiates a function marked ``primitive`` only through the rules registered
for it (``defvjp``, ``defjvp``), and raises ``NotImplementedError`` when there are none.  The
tests that import this module use ``primitive`` without rules, so the shim's primitive is a
``tg.custom_vjp`` whose rule raises that error: its value is computed as usual, and
differentiating it in either mode (tracegrad's forward mode transposes the reverse rule)
fails as it does in autograd.
"""

from collections.abc import Callable
from typing import Any

import tracegrad as tg


def primitive(fun: Callable) -> Callable:
    name = getattr(fun, "__name__", "primitive")

    def no_rule(residuals: Any, cotangent: Any) -> tuple:
        raise NotImplementedError(f"the autograd primitive {name} has no derivative rule")

    wrapped = tg.custom_vjp(fun)
    wrapped.defvjp(lambda *args: (fun(*args), None), no_rule)
    return wrapped
