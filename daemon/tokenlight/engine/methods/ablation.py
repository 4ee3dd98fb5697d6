"""What the span methods share: the units they leave out, batched ablated forwards, drill-down.

A *unit* is a span of the context (``AttributionProblem.spans``) or, for every position no span
covers (the earlier targets of a continuation), that position alone: attribution to earlier
generated tokens stays per token. A row of ablations is a keep mask over positions: left-out
positions get the baseline's embedding (``replace``, positions kept), or their text is deleted and
the rest of the context tokenised again (``remove``: what the model would read had the text not
been there; a boundary token that merged across the deleted text comes out as the tokenizer spells
what is left). Only context positions can be removed: a target's own inputs are replaced, so each
target is still read where the model predicts it (the last positions, after the new context).
"""

from __future__ import annotations

import torch

from ..kernel import in_chunks
from .base import AttributionProblem

Units = list[tuple[int, int]]  # [first, last] positions, inclusive, in order, tiling [0, L)


def units(problem: AttributionProblem) -> Units:
    """The problem's spans, then every remaining position alone."""
    length = problem.inputs.shape[0]
    out = [(a, b) for a, b in problem.spans if a < length]
    covered = out[-1][1] + 1 if out else 0
    out += [(i, i) for i in range(covered, length)]
    return out


def unit_mask(groups: Units, length: int, device: torch.device) -> torch.Tensor:
    """``[U, L]`` bool: True where position i is in unit u."""
    mask = torch.zeros(len(groups), length, dtype=torch.bool, device=device)
    for u, (a, b) in enumerate(groups):
        mask[u, a : b + 1] = True
    return mask


def removable(problem: AttributionProblem) -> int:
    """How many leading positions may be deleted (the context's: not the targets' inputs)."""
    if problem.target_positions is None:
        return problem.inputs.shape[0]
    return int(problem.target_positions[0]) + 1


def ablated_values(
    problem: AttributionProblem, keep: torch.Tensor, ablation: str, what: str, *, reuse_prefix: bool = True
) -> torch.Tensor:
    """Every target's value with each row's left-out positions ablated: float64 ``[n, T]``.

    ``keep`` is ``[n, L]`` bool. Rows go through ``target_fn`` in chunks; each forward is told how
    many leading positions are unchanged in all its rows (``unchanged_prefix``; 0 without
    ``reuse_prefix``), so a cache of the unchanged prefix may be reused. Progress and cancellation
    between chunks.
    """
    inputs, baselines = problem.inputs, problem.baselines
    n = keep.shape[0]
    limit = removable(problem)

    def run(start: int, stop: int) -> torch.Tensor:
        problem.hooks.check()
        rows = keep[start:stop]
        out = torch.empty(stop - start, problem.n_targets, dtype=torch.float64, device=inputs.device)
        with torch.no_grad():
            batches = (
                _retokenised(problem, rows, limit)
                if ablation == "remove" and problem.retokenise is not None
                else _batches(rows, inputs, baselines, ablation, limit)
            )
            for index, batch, prefix in batches:
                values = problem.target_fn(batch, unchanged_prefix=prefix if reuse_prefix else 0)
                out[index] = torch.stack(values, dim=1).to(torch.float64)
        problem.hooks.report(stop, n, f"{what} {stop} of {n}")
        return out

    return torch.cat(in_chunks(n, problem.chunk_size(n), run, inputs.device), dim=0)


def removal_notes(problem: AttributionProblem, ablation: str) -> list[str]:
    """Say so when ``remove`` could not tokenise the text again (a chat prompt, a layer, an
    encoder-decoder source): there the left-out tokens are deleted from the token sequence."""
    if ablation != "remove" or problem.retokenise is not None:
        return []
    return [
        "ablation remove: the left-out tokens were deleted from the token sequence without tokenising the "
        "rest again (not defined for a chat prompt, a layer or an encoder-decoder source)"
    ]


def _batches(
    rows: torch.Tensor, inputs: torch.Tensor, baselines: torch.Tensor, ablation: str, limit: int
) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """(row indices, embeddings ``[m, L', d]``, unchanged prefix) per forward: one for ``replace``;
    for ``remove``, one per resulting length (rows of one length batch together)."""
    replaced = torch.where(rows.unsqueeze(-1), inputs.unsqueeze(0), baselines.unsqueeze(0))
    index = torch.arange(len(rows), device=rows.device)
    if ablation == "replace":
        return [(index, replaced, _prefix(rows))]
    deleted = ~rows[:, :limit]
    # a row that would delete the whole context keeps it replaced instead (nothing left to read)
    deleted[deleted.all(dim=1)] = False
    lengths = rows.shape[1] - deleted.sum(dim=1)
    out = []
    for size in sorted(set(lengths.tolist())):
        chosen = index[lengths == size]
        kept = torch.ones(len(chosen), rows.shape[1], dtype=torch.bool, device=rows.device)
        kept[:, :limit] = ~deleted[chosen]
        batch = replaced[chosen][kept].view(len(chosen), int(size), inputs.shape[-1])
        out.append((chosen, batch, _prefix(rows[chosen])))
    return out


def _retokenised(
    problem: AttributionProblem, rows: torch.Tensor, limit: int
) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """``remove`` by text: per row, the context re-tokenised without its left-out tokens' text
    (``problem.retokenise``), embedded, then the targets' inputs (replaced where the row leaves them
    out); rows of one resulting length in one forward, told the prefix of ids all of them share
    with the input."""
    assert problem.retokenise is not None and problem.input_ids is not None
    inputs, baselines = problem.inputs, problem.baselines
    embedding = problem.model.get_input_embeddings()
    original = problem.input_ids.tolist()
    tails = torch.where(rows[:, limit:].unsqueeze(-1), inputs[limit:].unsqueeze(0), baselines[limit:].unsqueeze(0))
    by_length: dict[int, list[tuple[int, list[int]]]] = {}
    for i, keep in enumerate(rows[:, :limit].tolist()):
        # a row that would delete the whole context keeps it (nothing left to read)
        # (or would leave no token at all: no BOS and only deleted text)
        ids = (problem.retokenise(keep) if any(keep) else []) or original[:limit]
        by_length.setdefault(len(ids), []).append((i, ids))
    out = []
    for size in sorted(by_length):
        members = by_length[size]
        batch_ids = torch.tensor([m[1] for m in members], device=inputs.device)
        chosen = torch.tensor([m[0] for m in members], device=inputs.device)
        context = embedding(batch_ids).to(inputs.dtype)
        batch = torch.cat([context, tails[chosen]], dim=1)
        shared = min(_common(m[1], original) for m in members)
        out.append((chosen, batch, min(shared, _prefix(rows[chosen]))))
    return out


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _prefix(rows: torch.Tensor) -> int:
    """Positions before the first one any row leaves out."""
    changed = (~rows).any(dim=0).nonzero()
    return int(changed[0]) if len(changed) else rows.shape[1]


def drill_down(
    problem: AttributionProblem, groups: Units, unit_scores: torch.Tensor, top: int, ablation: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token scores ``[T, L]`` and the drilled units ``[T, U]`` (bool).

    A one-token unit's score is its token's. Inside each target's ``top`` multi-token units (by
    |score|), every token is left out alone (with the same ablation) and scored f(x) − f(x without
    it); tokens of the other units stay 0. The left-out tokens are the union over targets, measured
    in one batched run; each target keeps only its own top units' tokens, so a target's row never
    depends on which other targets were asked.
    """
    n_targets, length = problem.n_targets, problem.inputs.shape[0]
    device = problem.inputs.device
    scores = torch.zeros(n_targets, length, dtype=torch.float64, device=device)
    drilled = torch.zeros(n_targets, len(groups), dtype=torch.bool, device=device)
    for u, (a, b) in enumerate(groups):
        if a == b:
            scores[:, a] = unit_scores[:, u]
    wide = [u for u, (a, b) in enumerate(groups) if b > a]
    if top == 0 or not wide:
        return scores, drilled
    visible = torch.tensor([problem.prefix_length(t) for t in range(n_targets)], device=device)
    firsts = torch.tensor([groups[u][0] for u in wide], device=device)
    magnitude = unit_scores[:, wide].abs().masked_fill(firsts.unsqueeze(0) >= visible.unsqueeze(1), -1.0)
    k = min(top, len(wide))
    order = magnitude.topk(k, dim=1).indices  # [T, k] into ``wide``
    for t in range(n_targets):
        for j in order[t].tolist():
            if float(magnitude[t, j]) >= 0:
                drilled[t, wide[j]] = True
    positions = sorted({p for u in drilled.any(dim=0).nonzero()[:, 0].tolist() for p in range(*_range(groups[u]))})
    if not positions:
        return scores, drilled
    keep = torch.ones(len(positions), length, dtype=torch.bool, device=device)
    keep[torch.arange(len(positions), device=device), torch.tensor(positions, device=device)] = False
    values = ablated_values(problem, keep, ablation, "token")  # [P, T]
    change = problem.target_scores.unsqueeze(0) - values
    column = {p: i for i, p in enumerate(positions)}
    for t in range(n_targets):
        for u in drilled[t].nonzero()[:, 0].tolist():
            for p in range(*_range(groups[u])):
                scores[t, p] = change[column[p], t]
    return scores, drilled


def _range(unit: tuple[int, int]) -> tuple[int, int]:
    return unit[0], unit[1] + 1
