"""PGD-based sensitivity (Yin et al. 2022): how small a perturbation of one token's embedding
suffices to flip the target, found by projected gradient descent.

For target t, predicted at position p, its margin is m(x) = logit_y(p) − max_{v≠y} logit_v(p). A
perturbation *flips* the target when it changes the margin's sign (the target stops being the top
token, or a forced target that was not the top one becomes it). For token i, ε*_i is the smallest
L2 radius for which projected gradient descent on token i's embedding alone (inside that ball)
finds a flip, located by bisection (on a log scale, to under 1%) up to 4 × the median embedding norm. The
score is 1/ε*_i: a token whose slight change flips the output is important; one that cannot flip it
within the search range scores 0.

Batched over tokens: each forward carries one copy of the sequence per token, each perturbing its
own token, so a PGD step for all tokens of a chunk is one forward and one backward. Per target:
``BISECTIONS`` × ``n_steps`` PGD steps. No baseline, no delta; scores are ≥ 0 and unsigned.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..kernel import in_chunks
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method

# the radius is bisected on a log scale between SEARCH_RADIUS·2^-SPAN and SEARCH_RADIUS (times the
# median embedding norm): BISECTIONS halvings of SPAN octaves locate it to 2^(SPAN/2^BISECTIONS),
# under 1% relative, whatever its size
BISECTIONS = 10
SPAN = 12
# Margins are a minimum of linear pieces (one per competing token): descending from δ = 0 follows
# the piece of today's best competitor and can miss a cheaper flip towards another. So a target that
# is the top token is attacked towards each of its COMPETITORS nearest competitors separately (a
# targeted attack each, in the same batch); one that is not the top token, untargeted.
COMPETITORS = 8
DEFAULT_PGD_STEPS = 10
SEARCH_RADIUS = 4.0  # × the median embedding norm: the largest radius tried


def _margin(values: torch.Tensor, target: int) -> torch.Tensor:
    """logit of ``target`` minus the best other logit: ``[n, V] -> [n]``."""
    others = values.clone()
    others[:, target] = float("-inf")
    return values[:, target] - others.max(-1).values


@register_method
class PGDSensitivity(AttributionMethod):
    id = "pgd_sensitivity"
    label = "PGD sensitivity"
    summary = "1 / the smallest perturbation of a token's embedding that flips the target (PGD search)."
    description = (
        "Yin et al. 2022: for each token, the smallest L2 perturbation of its embedding that flips the target "
        "(changes the sign of its logit margin over the best other token), found by projected gradient descent "
        "and bisection on the radius; score 1/radius, 0 when no flip is found within the search range. "
        "≥ 0, unsigned, no baseline, no delta. Batched over tokens; bisections × nSteps passes per target."
    )
    family = "perturbation"
    parameters = ("n_steps", "internal_batch_size")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        from ..heads import CausalTargets

        fn = problem.target_fn
        if not isinstance(fn, CausalTargets):
            from ..errors import InputError

            raise InputError("pgd_sensitivity needs a causal language model's logits; use occlusion")
        n_steps = int(problem.options.get("n_steps") or DEFAULT_PGD_STEPS)
        inputs = problem.inputs
        length = inputs.shape[0]
        reach = SEARCH_RADIUS * float(inputs.norm(dim=-1).median())
        scores = torch.zeros(problem.n_targets, length, dtype=torch.float64, device=inputs.device)
        with torch.no_grad():
            logits = fn.logits_per_target(inputs.unsqueeze(0))
        for t in range(problem.n_targets):
            target = int(fn.target_ids[t])
            visible = problem.prefix_length(t)
            at_x = logits[t][0, 0].float()
            sign = 1.0 if float(_margin(at_x.unsqueeze(0), target)[0]) > 0 else -1.0
            rivals = None
            if sign > 0:
                others = at_x.clone()
                others[target] = float("-inf")
                rivals = others.topk(min(COMPETITORS, others.shape[0] - 1)).indices

            def flips(radius: torch.Tensor, positions: torch.Tensor, t: int = t, target: int = target,
                      sign: float = sign, rivals: torch.Tensor | None = rivals) -> torch.Tensor:  # fmt: skip
                return _pgd_flips(problem, fn, t, target, sign, positions, radius, n_steps, rivals)

            def search(start: int, stop: int, flips: Callable[..., torch.Tensor] = flips) -> torch.Tensor:
                problem.hooks.check()
                positions = torch.arange(start, stop, device=inputs.device)
                hi = torch.full((len(positions),), math.log2(reach), dtype=torch.float64, device=inputs.device)
                lo = hi - SPAN
                found = flips(hi.exp2(), positions)
                for _ in range(BISECTIONS):
                    mid = (lo + hi) / 2
                    ok = flips(mid.exp2(), positions)
                    hi, lo = torch.where(ok, mid, hi), torch.where(ok, lo, mid)
                return torch.where(found, 1.0 / hi.exp2(), torch.zeros_like(hi))

            scores[t, :visible] = torch.cat(in_chunks(visible, problem.chunk_size(visible), search, inputs.device))
            problem.hooks.report(t + 1, problem.n_targets, f"target {t + 1} of {problem.n_targets}")
        return MethodOutput(scores)


def _pgd_flips(
    problem: AttributionProblem,
    fn: object,
    t: int,
    target: int,
    sign: float,
    positions: torch.Tensor,
    radius: torch.Tensor,
    n_steps: int,
    competitors: torch.Tensor | None,
) -> torch.Tensor:
    """bool ``[n]``: does PGD within ``radius[b]`` on token ``positions[b]`` flip target t's margin
    (against any of ``competitors``, each attacked on its own; untargeted when None)?"""
    from ..heads import CausalTargets

    assert isinstance(fn, CausalTargets)
    inputs = problem.inputs
    k = 1 if competitors is None else len(competitors)
    n = len(positions) * k
    where = positions.repeat_interleave(k)
    rows = torch.arange(n, device=inputs.device)
    r = radius.to(inputs.dtype).repeat_interleave(k).view(-1, 1)
    delta = torch.zeros(n, inputs.shape[-1], dtype=inputs.dtype, device=inputs.device)
    step = 2.5 * r / n_steps  # Madry et al.'s step size for n_steps inside the ball
    flipped = torch.zeros(n, dtype=torch.bool, device=inputs.device)
    for _ in range(n_steps + 1):
        delta.requires_grad_(True)
        batch = inputs.unsqueeze(0).repeat(n, 1, 1)
        batch[rows, where] = batch[rows, where] + delta
        with torch.enable_grad():
            values = fn.logits_per_target(batch)[t][:, 0].float()  # [n, V]
            flipped |= (sign * _margin(values, target) <= 0).detach()
            if competitors is None:
                objective = sign * _margin(values, target)
            else:
                rivals = values.gather(1, competitors.repeat(len(positions)).view(-1, 1))[:, 0]
                objective = values[:, target] - rivals
            (grad,) = torch.autograd.grad(objective.sum(), delta)
        with torch.no_grad():
            direction = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            delta = delta.detach() - step * direction  # descend on the margin
            norm = delta.norm(dim=-1, keepdim=True)
            delta = delta * torch.clamp(r / norm.clamp_min(1e-12), max=1.0)  # project onto the ball
    return flipped.view(-1, k).any(dim=1)
