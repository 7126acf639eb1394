"""tracegrad: JIT-compiled reverse-mode automatic differentiation of plain NumPy code."""

from .api import block_until_compiled, grad, jit, make_ir, show_source, value_and_grad
from .backend.compiler import compile_stats
from .core.ir import Program
from .custom import checkpoint, custom_jvp, custom_vjp
from .errors import (
    ArgnumsError,
    DTypeError,
    FrozenRandomnessWarning,
    NonScalarOutputError,
    NotCallableError,
    OutputStructureError,
    ShapeError,
    TracegradError,
    TracerBoolError,
    TracerConversionError,
    TracerLeakError,
    UnsupportedNumpyFunction,
)
from .frontend.elementwise import stop_gradient
from .transforms import hessian, jacfwd, jacobian, jacrev, jvp, vjp

__version__ = "0.1.0"

__all__ = [
    "ArgnumsError",
    "DTypeError",
    "FrozenRandomnessWarning",
    "NonScalarOutputError",
    "NotCallableError",
    "OutputStructureError",
    "Program",
    "ShapeError",
    "TracegradError",
    "TracerBoolError",
    "TracerConversionError",
    "TracerLeakError",
    "UnsupportedNumpyFunction",
    "block_until_compiled",
    "checkpoint",
    "compile_stats",
    "custom_jvp",
    "custom_vjp",
    "grad",
    "hessian",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "jit",
    "make_ir",
    "show_source",
    "stop_gradient",
    "value_and_grad",
    "vjp",
]
