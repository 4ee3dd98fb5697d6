"""PGD-based sensitivity (Yin et al. 2022): how small a perturbation of one token's embedding
suffices to flip the target, found by projected gradient descent.

For target t, predicted at position p, its margin is m(x) = logit_y(p) − max_{v≠y} logit_v(p). A
perturbation *flips* the target when it changes the margin's sign (the target stops being the top
token, or a forced target that was not the top one becomes it). For token i, ε*_i is the smallest
L2 radius for which projected gradient descent on token i's embedding alone (inside that ball)
finds a flip, located by bisection on a log scale up to 16 × the median embedding norm of the
target's prefix. The score is 1/ε*_i: a token whose slight change flips the output is important;
one that cannot flip it within the search range scores 0.

Batched over tokens and attacks: each forward carries one copy of the target's own prefix per
(token, competitor) pair, each perturbing its own token, so a PGD step for a chunk of pairs is one
forward and one backward, and the chunker can cut anywhere (one pair per pass fits wherever one
sequence does). Each target runs on exactly its own prefix with only its own logits (the head is
the largest matrix of a small model, and the other targets' rows were most of the work), so a
target's scores are those it gets when asked alone. Per target: (1 + ``pgd_bisections``) ×
(``n_steps`` + 1) passes at most; an attack stops as soon as every pair in its batch has flipped,
and only the pairs that flip at the largest radius are bisected (the others score 0 anyway).
No baseline, no delta; scores are ≥ 0 and unsigned. PGD takes Madry et al.'s step 2.5·r/n_steps:
with much fewer than the default 10 steps it overshoots at large radii (4 steps found no flip at all
on a random tiny GPT-2 where 10 find one), and a miss at the largest radius scores the token 0.
"""

from __future__ import annotations

import math

import torch

from ..kernel import in_chunks
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method

# the radius is bisected on a log scale between SEARCH_RADIUS·2^-SPAN and SEARCH_RADIUS (times the
# median embedding norm): B halvings of SPAN octaves locate it to 2^(SPAN/2^B), under 1% relative
# at the default B = 10, whatever its size
DEFAULT_BISECTIONS = 10
SPAN = 12
# Margins are a minimum of linear pieces (one per competing token): descending from δ = 0 follows
# the piece of today's best competitor and can miss a cheaper flip towards another. So a target that
# is the top token is attacked towards each of its nearest competitors separately (a targeted attack
# each, in the same batch); one that is not the top token, untargeted.
DEFAULT_COMPETITORS = 8
DEFAULT_PGD_STEPS = 10
# × the median embedding norm: the largest radius tried (at 4, even the last token of a random tiny
# GPT-2, whose attention spreads one token thin, could not flip its target)
SEARCH_RADIUS = 16.0


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
        "≥ 0, unsigned, no baseline, no delta. Batched over tokens and attacks; at most "
        "(1 + pgdBisections) × (nSteps + 1) passes per target."
    )
    family = "perturbation"
    parameters = ("n_steps", "pgd_bisections", "pgd_competitors", "internal_batch_size")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        from ..heads import CausalTargets

        fn = problem.target_fn
        if not isinstance(fn, CausalTargets):
            from ..errors import InputError

            raise InputError("pgd_sensitivity needs a causal language model's logits; use occlusion")
        options = problem.options
        n_steps = int(options.get("n_steps") or DEFAULT_PGD_STEPS)
        bisections = int(options.get("pgd_bisections") or DEFAULT_BISECTIONS)
        n_competitors = int(options.get("pgd_competitors") or DEFAULT_COMPETITORS)
        inputs = problem.inputs
        device = inputs.device
        scores = torch.zeros(problem.n_targets, inputs.shape[0], dtype=torch.float64, device=device)
        for t in range(problem.n_targets):
            target = int(fn.target_ids[t])
            visible = problem.prefix_length(t)
            prefix = inputs[:visible]
            # target t alone on its own prefix: its last position predicts it
            alone = CausalTargets(fn.model, fn.step, [target], None, reuse_prefix=False)
            reach = SEARCH_RADIUS * float(prefix.norm(dim=-1).median())
            with torch.no_grad():
                at_x = alone.logits_per_target(prefix.unsqueeze(0))[0][0, 0].float()
            sign = 1.0 if float(_margin(at_x.unsqueeze(0), target)[0]) > 0 else -1.0
            rivals: torch.Tensor | None = None
            if sign > 0:
                others = at_x.clone()
                others[target] = float("-inf")
                rivals = others.topk(min(n_competitors, others.shape[0] - 1)).indices
            k = 1 if rivals is None else len(rivals)
            # one row per (token, competitor) pair: the chunker may cut between any two
            where = torch.arange(visible, device=device).repeat_interleave(k)
            towards = None if rivals is None else rivals.repeat(visible)
            attack = _Attack(alone, prefix, target, sign, n_steps)

            def search(start: int, stop: int, attack: _Attack = attack, where: torch.Tensor = where,
                       towards: torch.Tensor | None = towards, reach: float = reach) -> torch.Tensor:  # fmt: skip
                problem.hooks.check()
                rows = where[start:stop]
                rivals = None if towards is None else towards[start:stop]
                top = torch.full((len(rows),), math.log2(reach), dtype=torch.float64, device=device)
                found = attack.flips(rows, rivals, top.exp2())
                out = torch.zeros_like(top)
                # a row that cannot flip at the largest radius scores 0 whatever the bisection
                # finds: only the others are bisected (exactly the same scores, fewer rows per pass)
                keep = found.nonzero()[:, 0]
                if len(keep) == 0:
                    return out
                rows, hi = rows[keep], top[keep]
                rivals = None if rivals is None else rivals[keep]
                lo = hi - SPAN
                for _ in range(bisections):
                    mid = (lo + hi) / 2
                    ok = attack.flips(rows, rivals, mid.exp2())
                    hi, lo = torch.where(ok, mid, hi), torch.where(ok, lo, mid)
                out[keep] = 1.0 / hi.exp2()
                return out

            per_pair = torch.cat(in_chunks(len(where), problem.chunk_size(len(where)), search, device))
            # the cheapest flip over the competitors: the largest 1/radius
            scores[t, :visible] = per_pair.view(visible, k).max(dim=1).values
            problem.hooks.report(t + 1, problem.n_targets, f"target {t + 1} of {problem.n_targets}")
        return MethodOutput(scores)


class _Attack:
    """PGD on one token's embedding per row, against target ``target`` of ``alone`` (one target, on
    its own ``prefix [P, d]``); ``sign`` is the margin's sign at x (the direction that flips it)."""

    def __init__(self, alone: object, prefix: torch.Tensor, target: int, sign: float, n_steps: int) -> None:
        from ..heads import CausalTargets

        assert isinstance(alone, CausalTargets)
        self.alone, self.prefix, self.target, self.sign, self.n_steps = alone, prefix, target, sign, n_steps

    def flips(self, where: torch.Tensor, rivals: torch.Tensor | None, radius: torch.Tensor) -> torch.Tensor:
        """bool ``[n]``: does PGD within ``radius[b]`` on token ``where[b]`` flip the margin (attacking
        towards competitor ``rivals[b]``; untargeted when None)?"""
        prefix = self.prefix
        n = len(where)
        rows = torch.arange(n, device=prefix.device)
        r = radius.to(prefix.dtype).view(-1, 1)
        delta = torch.zeros(n, prefix.shape[-1], dtype=prefix.dtype, device=prefix.device)
        step = 2.5 * r / self.n_steps  # Madry et al.'s step size for n_steps inside the ball
        flipped = torch.zeros(n, dtype=torch.bool, device=prefix.device)
        for i in range(self.n_steps + 1):
            delta.requires_grad_(True)
            batch = prefix.unsqueeze(0).repeat(n, 1, 1)
            batch[rows, where] = batch[rows, where] + delta
            with torch.enable_grad():
                values = self.alone.logits_per_target(batch)[0][:, 0].float()  # [n, V]
                margin = _margin(values, self.target)
                flipped |= (self.sign * margin <= 0).detach()
                # once every row has flipped, more steps cannot change the answer (``flipped`` only
                # grows): stop; and the last step's gradient would never be used
                if bool(flipped.all()) or i == self.n_steps:
                    break
                if rivals is None:
                    objective = self.sign * margin
                else:
                    objective = values[:, self.target] - values.gather(1, rivals.view(-1, 1))[:, 0]
                (grad,) = torch.autograd.grad(objective.sum(), delta)
            with torch.no_grad():
                direction = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                delta = delta.detach() - step * direction  # descend on the margin
                norm = delta.norm(dim=-1, keepdim=True)
                delta = delta * torch.clamp(r / norm.clamp_min(1e-12), max=1.0)  # project onto the ball
        return flipped
