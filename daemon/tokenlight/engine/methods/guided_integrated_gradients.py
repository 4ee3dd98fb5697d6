"""Guided Integrated Gradients (Kapishnikov et al. 2021, "Guided Integrated Gradients: an adaptive path
method for removing noise").

IG's straight line crosses regions where the model's gradient is large and noisy. Guided IG builds the
path as it goes: at each of K steps it must close a fixed share of the remaining L1 distance to the
input, and it does so by moving the input features whose gradient is *smallest* in magnitude first
(fully to their input value, the last one partially). Attributions accumulate along the actual path.
The paper sums ∇f(x_k) ⊙ (x_{k+1} − x_k) (left Riemann); we use the trapezoid rule on the same path,
½(∇f(x_k) + ∇f(x_{k+1})) ⊙ (x_{k+1} − x_k), which costs one more gradient in all (the next step needs
∇f(x_{k+1}) anyway) and converged far faster on the embedded model (two targets at 64 steps: |delta| fell
from 17% and 14% of f(x) − f(x′) to 0.2% and 3%). Completeness holds up to the step count: the delta shows it.

The path depends on the target's own gradient, so each target has its own path. They still share the
work: the T current points form one batch, one forward gives every row's values, and a single
backward of Σ_t f_t(row t) gives each row's gradient for its own target (rows are independent).
Cost: nSteps + 1 forwards and backwards over a batch of T, plus a sort of L·d features per step.
"""

from __future__ import annotations

import torch

from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method

DEFAULT_STEPS = 64


@register_method
class GuidedIntegratedGradients(AttributionMethod):
    id = "guided_integrated_gradients"
    label = "Guided Integrated Gradients"
    description = (
        "An adaptive path: each step moves the features with the smallest gradient toward the input first, "
        "avoiding IG's noisy high-gradient regions. Complete up to the step count (the delta shrinks with "
        "nSteps). One path per target, all targets batched: nSteps + 1 forwards and backwards."
    )
    family = "path"
    has_convergence_delta = True
    uses_baseline = True
    parameters = ("n_steps", "baseline")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        n_steps = int(problem.options.get("n_steps") or DEFAULT_STEPS)
        target = problem.inputs.detach().to(torch.float64)
        start = problem.baselines.detach().to(torch.float64)
        # one path per target, over its own prefix only: positions it cannot see start at the input,
        # so they take no share of the step budget (which would depend on the other targets asked)
        visible = problem.prefix_mask().unsqueeze(-1)  # [T, L, 1]
        x = torch.where(visible, start.unsqueeze(0), target.unsqueeze(0))  # [T, L, d]
        attr = torch.zeros_like(x)
        total = (target.unsqueeze(0) - x).abs().sum((1, 2))  # [T]: each path's own L1 length
        grads = _own_target_gradients(problem, x)  # [T, L, d]
        for k in range(n_steps):
            problem.hooks.check()
            remaining_goal = total * (1.0 - (k + 1) / n_steps)
            x_next = _advance(x, target, grads, remaining_goal)
            grads_next = _own_target_gradients(problem, x_next)
            attr += 0.5 * (grads + grads_next) * (x_next - x)
            x, grads = x_next, grads_next
            problem.hooks.report(k + 1, n_steps, f"step {k + 1} of {n_steps}")
        scores = attr.sum(-1)
        return MethodOutput(scores, self.convergence_delta(scores, problem), n_steps, uses_baseline=True)


def _own_target_gradients(problem: AttributionProblem, x: torch.Tensor) -> torch.Tensor:
    points = x.to(problem.inputs.dtype).detach().requires_grad_(True)
    with torch.enable_grad():
        values = problem.target_fn(points)  # T values, each [T rows]
        own = torch.stack([values[t][t] for t in range(len(values))]).sum()
        (grads,) = torch.autograd.grad(own, points)
    return grads.to(torch.float64)


def _advance(x: torch.Tensor, target: torch.Tensor, grads: torch.Tensor, remaining_goal: torch.Tensor) -> torch.Tensor:
    """Move each row's features toward ``target``, smallest |gradient| first, until the row's L1
    distance to the target is ``remaining_goal`` (the last feature moved only partly)."""
    rows = x.shape[0]
    gap = (target.unsqueeze(0) - x).reshape(rows, -1)  # signed distance per feature
    distance = gap.abs()
    budget = (distance.sum(1) - remaining_goal).clamp_min(0.0)  # L1 to cover this step, per row
    # features already at the input sort last; among the others, smallest |gradient| first
    key = torch.where(distance > 0, grads.reshape(rows, -1).abs(), torch.full_like(distance, float("inf")))
    order = key.argsort(dim=1, stable=True)
    sorted_distance = distance.gather(1, order)
    before = sorted_distance.cumsum(1) - sorted_distance  # distance covered by the features before each
    share = ((budget.unsqueeze(1) - before) / sorted_distance.clamp_min(1e-30)).clamp(0.0, 1.0)
    share = torch.where(sorted_distance > 0, share, torch.zeros_like(share))
    move = torch.zeros_like(share).scatter(1, order, share)  # fraction of each feature's gap to close
    return (x.reshape(rows, -1) + move * gap).reshape(x.shape)
