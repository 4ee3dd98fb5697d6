"""Running captum's module-based methods (DeepLift, LIME, KernelSHAP) on our attribution problems.

captum attributes one scalar output at a time (``target=t``) of a module whose forward maps inputs to
outputs. We wrap the problem's ``target_fn`` (embeddings -> T values) in a module that *contains* the
model, so that captum's DeepLift finds and hooks the model's non-linear layers.
"""

from __future__ import annotations

import torch

from .base import AttributionProblem


class TargetsModule(torch.nn.Module):
    """``forward(emb [n, L, d]) -> [n, T]``: the problem's targets as a captum-friendly module."""

    def __init__(self, problem: AttributionProblem) -> None:
        super().__init__()
        self.inner = problem.model  # registered, so captum's hooks reach its layers
        self._target_fn = problem.target_fn

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return torch.stack(self._target_fn(emb), dim=1)
