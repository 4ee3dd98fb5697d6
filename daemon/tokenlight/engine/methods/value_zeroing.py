"""Value Zeroing (Mohebbi et al. 2023), as inseq has it: how much a layer's representation of the
predicting position changes when one token's value vectors are zeroed in that layer's attention.

For layer l, token j and the position p that predicts target t:

    score_l[t, j] = 1 − cos(h_l(p), h̃_l^{¬j}(p))

where h_l is block l's output and h̃_l^{¬j} the same block's output, computed from the *original*
input to block l, with token j's value vectors set to zero in every head (j is removed from what
attention can mix in, while it still shapes the attention weights of the others). Layers are
altered one at a time (the change is not propagated), as in the paper. ``layers="last"`` (default)
reports the last block; ``layers="mean"`` the mean over all blocks. Scores are ≥ 0 (a cosine
distance): how much a token matters to a layer's mixing, not in which direction it moves the output.

Batched: one forward per chunk of positions j (each copy of the sequence zeroes a different j) and
per reported layer, stopped right after that layer; every target's score comes from the same
forward (causal attention: zeroing a later token changes nothing at p). Architectures whose values
we can find: GPT-2's fused ``c_attn`` and the ``v_proj`` of Llama, Mistral, Qwen, Gemma, OPT, ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..errors import InputError
from ..kernel import in_chunks
from ..layers import transformer_blocks
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method


class _Stop(Exception):
    """Raised after the altered block ran: nothing above it is needed."""


def value_zeroer(block: torch.nn.Module) -> tuple[torch.nn.Module, Callable[[Any, torch.Tensor], Any]]:
    """(the module that computes the values in ``block``'s self-attention, a function that zeroes
    the value of position ``positions[b]`` in batch row b of that module's output)."""
    named = dict(block.named_modules())
    for name, module in named.items():
        if name.endswith("c_attn") and "crossattention" not in name:  # GPT-2: q, k, v in one projection

            def zero_fused(output: Any, positions: torch.Tensor) -> Any:
                out = output.clone()
                width = out.shape[-1] // 3
                rows = torch.arange(out.shape[0], device=out.device)
                out[rows, positions, 2 * width :] = 0
                return out

            return module, zero_fused
    for name, module in named.items():
        if name.endswith(("v_proj", "value")) and "cross" not in name and isinstance(module, torch.nn.Linear):

            def zero_values(output: Any, positions: torch.Tensor) -> Any:
                out = output.clone()
                rows = torch.arange(out.shape[0], device=out.device)
                out[rows, positions] = 0
                return out

            return module, zero_values
    raise InputError(
        f"value_zeroing cannot find the value projection in {type(block).__name__}; it supports GPT-2-style "
        "(c_attn) and v_proj attention; use integrated_gradients or occlusion"
    )


def _output(output: Any) -> torch.Tensor:
    first: torch.Tensor = output[0] if isinstance(output, tuple) else output
    return first


@register_method
class ValueZeroing(AttributionMethod):
    id = "value_zeroing"
    label = "Value Zeroing"
    summary = "How much a layer's representation changes when a token's attention values are zeroed (≥ 0)."
    description = (
        "Value Zeroing (Mohebbi et al. 2023): 1 − cosine between a block's output at the predicting position "
        "and the same block's output with one token's value vectors zeroed (original input to the block). "
        "Last block, or the mean over blocks with layers=mean. Context mixing, not a gradient: ≥ 0, no sign, "
        "no baseline, no delta. ⌈L/chunk⌉ forwards per reported block, for all targets."
    )
    family = "perturbation"
    parameters = ("layers", "internal_batch_size")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        model = problem.model
        if model is None:
            raise InputError("value_zeroing needs a transformer's own attention layers")
        blocks = list(transformer_blocks(model))
        chosen = range(len(blocks)) if problem.options.get("layers") == "mean" else [len(blocks) - 1]
        inputs = problem.inputs
        length = inputs.shape[0]
        positions = (
            torch.tensor([length - 1], device=inputs.device)
            if problem.target_positions is None
            else problem.target_positions.to(inputs.device)
        )
        run = _runner(problem)
        original = self._originals(run, blocks, inputs)  # per block [L, d]
        scores = torch.zeros(problem.n_targets, length, dtype=torch.float64, device=inputs.device)
        for done, index in enumerate(chosen):
            progress = (done * length, len(chosen) * length, f"block {index} of {len(blocks)}")
            scores += _block_scores(problem, run, blocks[index], original[index][positions], positions, progress)
        return MethodOutput(scores / len(chosen))

    @staticmethod
    @torch.no_grad()
    def _originals(
        run: Callable[[torch.Tensor], Any], blocks: list[torch.nn.Module], inputs: torch.Tensor
    ) -> list[torch.Tensor]:
        seen: dict[int, torch.Tensor] = {}
        handles = [
            b.register_forward_hook(lambda m, a, o, i=i: seen.__setitem__(i, _output(o)[0].detach()))
            for i, b in enumerate(blocks)
        ]
        try:
            run(inputs.unsqueeze(0))
        finally:
            for h in handles:
                h.remove()
        return [seen[i] for i in range(len(blocks))]


def _block_scores(
    problem: AttributionProblem,
    run: Callable[[torch.Tensor], Any],
    block: torch.nn.Module,
    reference: torch.Tensor,
    positions: torch.Tensor,
    progress: tuple[int, int, str],
) -> torch.Tensor:
    """``[T, L]``: 1 − cos(h(p_t), h̃^{¬j}(p_t)) for one block, from ``reference`` = h(p_t) ``[T, d]``."""
    inputs = problem.inputs
    length = inputs.shape[0]
    values_module, zero = value_zeroer(block)
    offset, total, message = progress

    def chunk(start: int, stop: int) -> torch.Tensor:
        problem.hooks.check()
        zeroed = torch.arange(start, stop, device=inputs.device)
        altered = _altered(run, block, values_module, zero, inputs, zeroed)  # [n, L, d]
        at = altered[:, positions].to(torch.float64)  # [n, T, d]
        cos = torch.nn.functional.cosine_similarity(at, reference.to(torch.float64).unsqueeze(0), dim=-1)
        problem.hooks.report(offset + stop, total, message)
        return (1 - cos).T  # [T, n]

    return torch.cat(in_chunks(length, problem.chunk_size(length), chunk, inputs.device), dim=1)


def _runner(problem: AttributionProblem) -> Callable[[torch.Tensor], Any]:
    """A forward of the model body on embeddings ``[n, L, d]`` (no head: only block outputs are read)."""
    model = problem.model
    body = getattr(model, "base_model", model)

    def run(emb: torch.Tensor) -> Any:
        return body(inputs_embeds=emb, use_cache=False)

    return run


@torch.no_grad()
def _altered(
    run: Callable[[torch.Tensor], Any],
    block: torch.nn.Module,
    values_module: torch.nn.Module,
    zero: Callable[[Any, torch.Tensor], Any],
    inputs: torch.Tensor,
    zeroed: torch.Tensor,
) -> torch.Tensor:
    """Block outputs ``[n, L, d]`` with row b's value at ``zeroed[b]`` set to zero in that block only."""
    kept: list[torch.Tensor] = []

    def stop(module: torch.nn.Module, args: Any, output: Any) -> None:
        kept.append(_output(output).detach())
        raise _Stop

    h1 = values_module.register_forward_hook(lambda m, a, o: zero(o, zeroed))
    h2 = block.register_forward_hook(stop)
    try:
        run(inputs.unsqueeze(0).expand(len(zeroed), -1, -1))
    except _Stop:
        pass
    finally:
        h1.remove()
        h2.remove()
    return kept[0]
