"""Running captum's module-based methods (DeepLift, LIME, KernelSHAP) on our attribution problems.

captum attributes one scalar output at a time (``target=t``) of a module whose forward maps inputs to
outputs. We wrap the problem's ``target_fn`` (embeddings -> T values) in a module that *contains* the
model, so that captum's DeepLift finds and hooks the model's non-linear layers.
"""

from __future__ import annotations

import torch

from .base import AttributionProblem


class TargetsModule(torch.nn.Module):
    """``forward(emb [n, P, d]) -> [n, T]``: the problem's targets as a captum-friendly module.

    With ``length`` P < L, captum sees only the first P positions (one target's own prefix, so that
    its perturbations are drawn for the positions that target depends on, not for the group's); the
    rest are held at the input, which a causal target at position < P cannot see anyway.
    """

    def __init__(self, problem: AttributionProblem, length: int | None = None) -> None:
        super().__init__()
        self.inner = problem.model  # registered, so captum's hooks reach its layers
        self._target_fn = problem.target_fn
        self._inputs = problem.inputs
        self._rest = problem.inputs[problem.inputs.shape[0] if length is None else length :]

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        if self._rest.shape[0]:
            emb = torch.cat([emb, self._rest.unsqueeze(0).expand(emb.shape[0], -1, -1)], dim=1)
        return torch.stack(self._target_fn(emb, unchanged_prefix=self._unchanged_prefix(emb)), dim=1)

    def _unchanged_prefix(self, emb: torch.Tensor) -> int:
        """How many leading positions every row of a perturbed batch leaves as in the input (0 when
        gradients are recorded: DeepLift's passes need them through every position)."""
        if torch.is_grad_enabled() and emb.requires_grad:
            return 0
        same = (emb == self._inputs[: emb.shape[1]].unsqueeze(0)).all(dim=2).all(dim=0)  # [L]
        changed = (~same).nonzero()
        return int(changed[0]) if len(changed) else emb.shape[1]
