"""Per-token reductions of embedding gradients, shared by the gradient-based methods.

Each maps one chunk's gradients ``[n, L, d]`` (and the points they were taken at) to unweighted
per-point, per-token terms ``[n, L]`` in float64; the kernel applies quadrature weights.
"""

from __future__ import annotations

import torch


def dot_with(direction: torch.Tensor):
    """⟨gᵢ, direction⟩ per token: IG with ``direction = x − x′``, input×gradient with x."""
    direction64 = direction.to(torch.float64)

    def reduce(grads: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return (grads.to(torch.float64) * direction64).sum(-1)

    return reduce


def abs_sum(grads: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Σ_d |gᵢ,d| per token: captum's Saliency (abs=True) summed over the embedding."""
    return grads.to(torch.float64).abs().sum(-1)
