"""Attribution methods, one module each, found through the registry in :mod:`.base`."""

from . import input_x_gradient, integrated_gradients, saliency  # noqa: F401  (register themselves)
from .base import (
    AttributionMethod,
    AttributionProblem,
    MethodOutput,
    get_method,
    list_methods,
    register_method,
)

__all__ = [
    "AttributionMethod",
    "AttributionProblem",
    "MethodOutput",
    "get_method",
    "list_methods",
    "register_method",
]
