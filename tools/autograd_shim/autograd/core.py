"""Names autograd's tests import from its internals; tracegrad has no such registry."""

primitive_vjps: dict = {}
