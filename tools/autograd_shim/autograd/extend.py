"""autograd's ``primitive`` decorator: tracegrad's custom rules are ``tg.custom_vjp``."""

from collections.abc import Callable


def primitive(fun: Callable) -> Callable:
    return fun
