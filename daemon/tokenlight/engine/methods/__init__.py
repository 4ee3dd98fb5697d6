"""Attribution methods, one module each, found through the registry in :mod:`.base`."""

# each module registers its methods; the order here is the order users see them listed
# isort: off
from . import (  # noqa: F401
    saliency,
    input_x_gradient,
    integrated_gradients,
    discretized_integrated_gradients,
    sequential_integrated_gradients,
    guided_integrated_gradients,
    gradient_shap,
    deeplift,
    lrp,
    occlusion,
    span_occlusion,
    context_ablation,
    surrogates,
    attention,
    value_zeroing,
    guided_backprop,
    greedy_pig,
    pgd_sensitivity,
)

# isort: on
from .base import (
    AttributionMethod,
    AttributionProblem,
    MethodOutput,
    get_method,
    list_methods,
    register_method,
    unregister_method,
)

__all__ = [
    "AttributionMethod",
    "AttributionProblem",
    "MethodOutput",
    "get_method",
    "list_methods",
    "register_method",
    "unregister_method",
]
