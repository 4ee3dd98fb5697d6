"""Attribution to an intermediate layer: the residual stream after one transformer block.

Layer Integrated Gradients (captum's ``LayerIntegratedGradients``; Sundararajan et al.'s IG applied
to a layer's output): the path runs between the block's output for the baseline input, h(x′), and
for the input, h(x), and the model above the block is the function attributed. Completeness holds at
that layer: Σ scores = f(h(x)) − f(h(x′)) = f(x) − f(x′), because h(x′) is what the baseline input
produces there.

Implemented as a change of variables, not as a new method: :class:`LayerTargets` is a target
function of the layer's activations (it runs the model on the real input and replaces the block's
output with the path point, through a forward hook), and the problem's inputs and baselines become
h(x) and h(x′). Every method that only needs a target function, inputs and baselines
(``supports_layer``) then runs unchanged through the batched kernel: one forward per chunk of
points serves all targets.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .errors import InputError
from .kernel import TargetFn


def transformer_blocks(model: Any) -> torch.nn.ModuleList:
    """The model's stack of blocks: the longest ``ModuleList`` of its body (GPT-2's ``h``, Llama's
    ``layers``, ...), whose length matches the config's layer count when the config gives one."""
    config = getattr(model, "config", None)
    expected = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    body = getattr(model, "base_model", model)
    lists = [m for m in body.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 0]
    if expected is not None:
        lists = [m for m in lists if len(m) == expected] or lists
    if not lists:
        raise InputError(
            f"cannot find this model's stack of transformer blocks ({type(model).__name__}), which the layer option "
            "and value_zeroing need; drop the layer option, or use another method"
        )
    return max(lists, key=len)


def resolve_layer(model: Any, layer: int) -> tuple[int, torch.nn.Module]:
    """(index from 0, the block) for ``layer`` (negative counts from the end)."""
    blocks = transformer_blocks(model)
    n = len(blocks)
    if not -n <= layer < n:
        raise InputError(f"layer {layer} does not exist: this model has {n} blocks (0..{n - 1}, or -1..-{n})")
    index = layer % n
    return index, blocks[index]


@contextmanager
def replaced_output(block: torch.nn.Module, activations: torch.Tensor) -> Iterator[None]:
    """While active, ``block`` outputs ``activations`` (its first output, when it returns a tuple)
    in place of what it computed; a shorter forward (a prefix) gets the matching prefix."""

    def hook(module: torch.nn.Module, args: Any, output: Any) -> Any:
        first = output[0] if isinstance(output, tuple) else output
        new = activations[:, : first.shape[1]].to(first.dtype)
        if new.shape != first.shape:
            raise InputError(f"layer activations of shape {list(new.shape)} do not fit the block's {list(first.shape)}")
        return (new, *output[1:]) if isinstance(output, tuple) else new

    handle = block.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def capture_output(block: torch.nn.Module, run: Any) -> torch.Tensor:
    """What ``block`` outputs while ``run()`` runs (its longest call: models whose rotary
    frequencies depend on the length run later targets on their own prefixes, heads.py)."""
    seen: list[torch.Tensor] = []

    def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
        seen.append((output[0] if isinstance(output, tuple) else output).detach())

    handle = block.register_forward_hook(hook)
    try:
        run()
    finally:
        handle.remove()
    if not seen:
        raise InputError("the chosen layer did not run in the model's forward; choose another layer")
    return max(seen, key=lambda out: out.shape[1])


class LayerTargets:
    """``target_fn(h [n, L, d])``: the targets as a function of the block's output.

    ``inner`` is the target function of the input embeddings and ``inputs`` ``[L, d]`` the real
    input: the model runs on it and the block's output is replaced by ``h`` (the positions below the
    block run without a graph, since nothing below it is differentiated)."""

    def __init__(self, inner: TargetFn, block: torch.nn.Module, inputs: torch.Tensor) -> None:
        self.inner, self.block, self.inputs = inner, block, inputs

    def __call__(self, h: torch.Tensor, unchanged_prefix: int = 0) -> list[torch.Tensor]:
        # no prefix reuse: the block's output is replaced by ``h`` in every pass, cache or not
        x = self.inputs[: h.shape[1]].unsqueeze(0).expand(h.shape[0], -1, -1)
        with replaced_output(self.block, h):
            return self.inner(x)

    def evaluate_with_probabilities(self, *activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.stack(activations)
        x = self.inputs[: h.shape[1]]
        inner: Any = self.inner
        with replaced_output(self.block, h):
            result: tuple[torch.Tensor, torch.Tensor] = inner.evaluate_with_probabilities(*([x] * h.shape[0]))
        return result


def layer_activations(
    inner: Any, block: torch.nn.Module, inputs: torch.Tensor, baselines: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """h(x) and h(x′), ``[L, d]`` each, from one forward over both."""
    both = capture_output(block, lambda: inner(torch.stack([inputs, baselines])))
    return both[0], both[1]
