"""Per-token reductions of embedding gradients, shared by the gradient-based methods."""

from __future__ import annotations

import torch


def weighted_dot(direction: torch.Tensor):
    """Σᵢ wᵢ · ⟨gᵢ, direction⟩ per token: IG with ``direction = x − x′``, input×gradient with x."""

    def reduce(grads: torch.Tensor, points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        per_point = (grads.to(torch.float64) * direction.to(torch.float64)).sum(-1)  # [n, L]
        return (weights.view(-1, 1) * per_point).sum(0)

    return reduce


def weighted_abs_sum(grads: torch.Tensor, points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σᵢ wᵢ · Σ_d |gᵢ,d| per token: captum's Saliency (abs=True) summed over the embedding."""
    per_point = grads.to(torch.float64).abs().sum(-1)
    return (weights.view(-1, 1) * per_point).sum(0)
