"""Guided Integrated Gradients (Kapishnikov et al. 2021, "Guided Integrated Gradients: an adaptive path
method for removing noise").

IG's straight line crosses regions where the model's gradient is large and noisy. Guided IG builds the
path as it goes: at each of K steps (α = k/K) it must close a fixed share of the L1 distance to the
input, and it does so by moving the features whose gradient is *smallest* in magnitude first: a
``fraction`` of the features at a time (the lowest |gradient| quantile), as far as allowed, until the
step's L1 goal is met.

**Bounded** (the paper's and the PAIR reference implementation's default): no feature may stray from
the straight line by more than ``max_dist`` in α: at step α every feature stays within the straight
line's points at α − max_dist and α + max_dist; features that fall behind the band are moved up to
its lower edge first. ``max_dist = 0`` is IG's straight line; ``max_dist = 1`` is the **unbounded**
variant, where the path may go anywhere in the box between baseline and input. Defaults: max_dist
0.02, fraction 0.25 (the reference implementation's).

Attributions accumulate along the actual path. The paper sums ∇f(x_k) ⊙ (x_{k+1} − x_k) (left
Riemann); we use the trapezoid rule on the same path, ½(∇f(x_k) + ∇f(x_{k+1})) ⊙ (x_{k+1} − x_k),
which costs one more gradient in all and converged far faster on the embedded model (unbounded, two
targets at 64 steps: |delta| fell from 17% and 14% of f(x) − f(x′) to 0.2% and 3%). Completeness holds
up to the step count: the delta shows it.

The path depends on the target's own gradient, so each target has its own path, over the positions
it can see (its prefix): positions after it start at the input and never move, and the quantile is
taken over its own features, so the path is the same however targets are grouped. They still share
the work: the T current points form one batch, one forward gives every row's values, and a single
backward of Σ_t f_t(row t) gives each row's gradient for its own target (rows are independent).
Cost: nSteps + 1 forwards and backwards over a batch of T, plus a few sorts of L·d features per step.
"""

from __future__ import annotations

import torch

from ..kernel import in_chunks
from ..options import get_option
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method

DEFAULT_STEPS = 64
# relative tolerance for "the step's L1 goal is met" (the reference implementation's)
GOAL_TOLERANCE = 1e-9
# selection rounds per step: each round saturates or finishes its features, so this is never reached
# in practice; it only guards against a loop that cannot progress
MAX_ROUNDS = 100_000


@register_method
class GuidedIntegratedGradients(AttributionMethod):
    id = "guided_integrated_gradients"
    label = "Guided Integrated Gradients"
    summary = "Guided IG: an adaptive path, low-gradient features first."
    description = (
        "An adaptive path: each step moves the features with the smallest gradient toward the input first, "
        "avoiding IG's noisy high-gradient regions, within maxDist (in α) of IG's straight line (bounded, the "
        "paper's default; maxDist=1 is unbounded). Complete up to the step count (the delta shrinks with "
        "nSteps). One path per target, all targets batched: nSteps + 1 forwards and backwards."
    )
    family = "path"
    recomputable = True
    has_convergence_delta = True
    uses_baseline = True
    parameters = ("n_steps", "max_dist", "fraction", "baseline", "internal_batch_size")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        n_steps = int(problem.options.get("n_steps") or DEFAULT_STEPS)
        max_dist, fraction = _bounds(problem)
        end = problem.inputs.detach().to(torch.float64)
        # one path per target over its own prefix: positions it cannot see start (and stay) at the input
        visible = problem.prefix_mask().unsqueeze(-1)  # [T, L, 1]
        start = torch.where(visible, problem.baselines.detach().to(torch.float64).unsqueeze(0), end.unsqueeze(0))
        counts = visible.sum((1, 2)) * end.shape[-1]  # [T]: features on each target's path
        x = start.clone()
        attr = torch.zeros_like(x)
        grads = _own_target_gradients(problem, x)  # [T, L, d]
        for k in range(n_steps):
            problem.hooks.check()
            band = _Band((k + 1) / n_steps, max_dist)
            x_next = _advance(
                x.flatten(1), start.flatten(1), end.flatten().unsqueeze(0), grads.flatten(1), band, fraction, counts
            )
            x_next = x_next.view_as(x)
            grads_next = _own_target_gradients(problem, x_next)
            attr += 0.5 * (grads + grads_next) * (x_next - x)
            x, grads = x_next, grads_next
            problem.hooks.report(k + 1, n_steps, f"step {k + 1} of {n_steps}")
        scores = attr.sum(-1)
        return MethodOutput(scores, self.convergence_delta(scores, problem), n_steps, uses_baseline=True)


def _bounds(problem: AttributionProblem) -> tuple[float, float]:
    """``max_dist`` and ``fraction``: defaults and ranges are the option spec's (a problem built
    without ``attribute()`` is checked by the same rule)."""
    values = []
    for name in ("max_dist", "fraction"):
        option = get_option(name)
        value = option.validate(problem.options.get(name))
        values.append(float(option.default if value is None else value))
    return values[0], values[1]


class _Band:
    """Step α's allowed range in α: [α − max_dist, α + max_dist] within [0, 1]."""

    def __init__(self, alpha: float, max_dist: float) -> None:
        self.alpha = alpha
        self.low = max(alpha - max_dist, 0.0)
        self.high = min(alpha + max_dist, 1.0)


def _own_target_gradients(problem: AttributionProblem, x: torch.Tensor) -> torch.Tensor:
    """Row t's gradient of target t, ``[T, L, d]``: rows in chunks, each one forward and backward."""

    def rows(start: int, stop: int) -> torch.Tensor:
        points = x[start:stop].to(problem.inputs.dtype).detach().requires_grad_(True)
        with torch.enable_grad():
            values = problem.target_fn(points)  # T values, each [stop − start rows]
            own = torch.stack([values[start + r][r] for r in range(stop - start)]).sum()
            (grads,) = torch.autograd.grad(own, points)
        return grads.to(torch.float64)

    n_rows = x.shape[0]
    return torch.cat(in_chunks(n_rows, problem.chunk_size(n_rows), rows, problem.inputs.device))


def _advance(
    x: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    grads: torch.Tensor,
    band: _Band,
    fraction: float,
    counts: torch.Tensor,
) -> torch.Tensor:
    """One step of every row's path (rows ``[R, F]``): the point at which the row's L1 distance to
    ``end`` is (1 − α) of its whole length, reached by moving low-|gradient| features first within
    the band. ``counts`` is each row's number of features (the rest never move)."""
    diff = end - start  # zero for features that do not move (outside the prefix, or x = x′ there)
    x_min, x_max = start + band.low * diff, start + band.high * diff
    goal = diff.abs().sum(1) * (1.0 - band.alpha)
    moving = diff != 0
    behind = moving & ((x - start) / torch.where(moving, diff, torch.ones_like(diff)) < band.low)
    x = torch.where(behind, x_min, x)
    # the lowest-|gradient| `fraction` quantile of each row's own features ("lower" interpolation)
    rank = ((counts - 1).clamp_min(0).to(torch.float64) * fraction).floor().long().unsqueeze(1)
    for _ in range(MAX_ROUNDS):
        remaining = (x - end).abs().sum(1)
        short = remaining - goal > GOAL_TOLERANCE * goal.clamp_min(1.0)  # rows not yet at their goal
        key = torch.where(x == x_max, torch.full_like(grads, float("inf")), grads.abs())  # at the band's edge: done
        threshold = key.sort(dim=1).values.gather(1, rank)
        selected = (key <= threshold) & torch.isfinite(key) & short.unsqueeze(1)
        room = ((x_max - x).abs() * selected).sum(1)
        if not bool((room > 0).any()):
            break
        gamma = ((remaining - goal) / room.clamp_min(1e-300)).unsqueeze(1)  # share of the room to use
        moved = torch.where(gamma >= 1.0, x_max, x + gamma.clamp(max=1.0) * (x_max - x))
        x = torch.where(selected, moved, x)
    return x
