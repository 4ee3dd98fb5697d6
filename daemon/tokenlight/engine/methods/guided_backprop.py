"""Guided Backpropagation (Springenberg et al. 2015) and Deconvolution (Zeiler & Fergus 2014).

Both change only how the gradient passes back through ReLUs, as captum's ``GuidedBackprop`` and
``Deconvolution`` do (backward hooks on the ``ReLU`` modules):

* Guided Backprop: the ReLU's gradient, with its negative entries set to 0 (it passes where the
  forward input was positive *and* the gradient from above is positive);
* Deconvolution: the gradient from above with its negative entries set to 0, whatever the
  forward input was.

Per token the result is the L2 norm of the modified gradient over the embedding (inseq's default
aggregation for gradient methods): a magnitude, like saliency. Batched as saliency is: one forward
and T backward passes for all targets, with the hooks in place.

The rule is defined for ReLU networks only. Transformers use GELU / SiLU (and LayerNorm, softmax),
which the rule does not cover: there it changes nothing, or too little, and the result is (close to)
the plain gradient's norm. Such results carry a warning, as DeepLift's do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import torch

from ..kernel import ReduceFn
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import gradient_terms_at_input

_NON_RELU_ACTIVATIONS = ("gelu", "silu", "swish", "mish", "quickgelu", "tanh", "sigmoid", "elu", "softplus")


def l2_norm(grads: torch.Tensor, points: torch.Tensor, rows: slice) -> torch.Tensor:
    """‖gᵢ‖₂ over the embedding, per token."""
    norms: torch.Tensor = torch.linalg.vector_norm(grads.to(torch.float64), dim=-1)
    return norms


@contextmanager
def modified_relu_gradients(model: Any, rule: str) -> Iterator[int]:
    """While active, every ``torch.nn.ReLU`` in ``model`` passes back ``relu(grad_in)`` (``guided``)
    or ``relu(grad_out)`` (``deconvolution``). Yields how many ReLU modules were hooked."""
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)] if model is not None else []

    def hook(module: torch.nn.Module, grad_input: Any, grad_output: Any) -> Any:
        source = grad_input[0] if rule == "guided" else grad_output[0]
        return (torch.nn.functional.relu(source),)

    handles = [m.register_full_backward_hook(hook) for m in relus]
    try:
        yield len(relus)
    finally:
        for h in handles:
            h.remove()


def relu_rule_warning(label: str, model: Any, hooked: int) -> list[str]:
    """Why the ReLU rule does not hold on this model, if it does not."""
    if model is None:
        return []
    others = sorted(
        {
            type(m).__name__
            for m in model.modules()
            if not list(m.children())
            and not isinstance(m, torch.nn.ReLU)
            and any(h in type(m).__name__.lower() for h in _NON_RELU_ACTIVATIONS)
        }
    )
    if not others and hooked:
        return []
    found = ", ".join(others) if others else "no ReLU modules"
    return [
        f"{label}'s rule is defined for ReLU networks only; this model has {found}, which it leaves as plain "
        f"gradients ({hooked} ReLU module(s) modified), so the result is close to the gradient's norm; prefer "
        "Integrated Gradients here"
    ]


class _ModifiedRelu(AttributionMethod):
    rule: ClassVar[str]
    family = "gradient"
    parameters = ("internal_batch_size",)

    def _reduce(self) -> ReduceFn:
        return l2_norm

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        with modified_relu_gradients(problem.model, self.rule) as hooked:
            scores = gradient_terms_at_input(problem, self._reduce())
        return MethodOutput(scores, warnings=relu_rule_warning(self.label, problem.model, hooked))


@register_method
class GuidedBackprop(_ModifiedRelu):
    id = "guided_backprop"
    label = "Guided Backprop"
    rule = "guided"
    summary = "Gradient norm with ReLUs passing only positive gradients (captum's rule); ReLU networks only."
    description = (
        "Guided Backpropagation: the gradient with every ReLU passing back only positive gradients where its "
        "input was positive; per token the L2 norm over the embedding. Defined for ReLU networks: on GELU/SiLU "
        "transformers it is (close to) the gradient's norm, and the result says so. 1 forward + T backward."
    )


@register_method
class Deconvolution(_ModifiedRelu):
    id = "deconvolution"
    label = "Deconvolution"
    rule = "deconvolution"
    summary = "Gradient norm with ReLUs passing the positive part of the gradient from above; ReLU networks only."
    description = (
        "Deconvolution: the gradient with every ReLU passing back the positive part of the gradient from above, "
        "whatever its input was; per token the L2 norm over the embedding. Defined for ReLU networks: on "
        "GELU/SiLU transformers the result says it does not hold. 1 forward + T backward."
    )
