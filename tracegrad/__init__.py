"""tracegrad: JIT-compiled reverse-mode automatic differentiation of plain NumPy code."""

from .api import block_until_compiled, grad, jit, make_ir, show_source, value_and_grad
from .backend.stats import compile_stats
from .core.ir import Program
from .custom import checkpoint, custom_jvp, custom_vjp
from .errors import (
    ArgnumsError,
    BatchAxisError,
    ControlFlowError,
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
from .lax import cond, fori_loop, scan, switch, while_loop
from .transforms import hessian, jacfwd, jacobian, jacrev, jvp, vjp
from .vmap import vmap

__version__ = "0.1.0"

__all__ = [
    "ArgnumsError",
    "BatchAxisError",
    "ControlFlowError",
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
    "cond",
    "custom_jvp",
    "custom_vjp",
    "fori_loop",
    "grad",
    "hessian",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "jit",
    "make_ir",
    "scan",
    "show_source",
    "stop_gradient",
    "switch",
    "value_and_grad",
    "vjp",
    "vmap",
    "while_loop",
]
