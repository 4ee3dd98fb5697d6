"""Target values of a causal LM without full-vocabulary logits in the gradient graph.

A causal LM is a body (input embeddings → final hidden states) and an output head (hidden → logits,
a ``[V, d]`` matrix). The gradient of target t only needs:

* for ``logit`` / ``logit_diff``: the head's rows of the target (and contrast) token: a dot product,
  instead of a ``[n, T, V]`` logits tensor whose dense backward costs n·T·V·d per target;
* for the softmax step functions: the full row of logits at target t's own position only.

Each target's value is its own small subgraph on top of the shared body, so a backward pass for
target t never runs through the other targets' head computations. ``benchmarks/bench_profile.py``
times IG this way against the full-logits path (its figures are in ``benchmarks/RESULTS.md``).

Models whose logits are not ``head(body(x))`` (logit soft-capping, scaling, extra norms) are caught
by a numerical check against the model's own forward; they fall back to full logits.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from .step_functions import StepFunction


class CausalTargets:
    """Builds ``target_fn(emb [n, L, d]) -> list of T tensors [n]`` for one attribution."""

    def __init__(self, model: Any, step: StepFunction, target_ids: list[int], contrast_id: int | None) -> None:
        self.model = model
        self.step = step
        self.n_targets = len(target_ids)
        self.target_ids = torch.tensor(target_ids, device=next(model.parameters()).device)
        self.contrast_id = contrast_id
        self.split = split_body_and_head(model)

    def __call__(self, emb: torch.Tensor) -> list[torch.Tensor]:
        if self.split is None:  # fallback: the model's own logits at the target positions
            values = self.step.fn(causal_logits(self.model, emb, self.n_targets), self.target_ids, self.contrast_id)
            return list(values.unbind(1))
        return self._from_hidden(self._hidden(emb))

    @torch.no_grad()
    def evaluate_with_probabilities(self, *embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Target values at each ``[L, d]`` embedding (``[len(embeddings), T]``, float64) and the
        model's probability of each target token at the first one (``[T]``), from one forward: the
        engine needs f(x), f(x′) and the probabilities shown in hovers, and a separate forward for
        the probabilities was one of ~20 forward-equivalents of a single-point method."""
        emb = torch.stack(embeddings)
        if self.split is None:
            logits = causal_logits(self.model, emb, self.n_targets)  # [n, T, V]
            values = self.step.fn(logits, self.target_ids, self.contrast_id)
            first = logits[0]
        else:
            hidden = self._hidden(emb)
            values = torch.stack(self._from_hidden(hidden), dim=1)
            first = self.split[1](hidden[0])  # [T, V]: the full head at the target positions of x only
        probabilities = first.float().softmax(-1).gather(1, self.target_ids.view(-1, 1))[:, 0]
        return values.to(torch.float64), probabilities

    def _hidden(self, emb: torch.Tensor) -> torch.Tensor:
        body, _ = self.split
        return body(inputs_embeds=emb, use_cache=False).last_hidden_state[:, -self.n_targets :]  # [n, T, d]

    def _from_hidden(self, hidden: torch.Tensor) -> list[torch.Tensor]:
        _, head = self.split
        if not self.step.full_vocabulary:
            return self._from_rows(hidden, head)
        out = []
        for t in range(self.n_targets):
            logits_t = head(hidden[:, t : t + 1])  # [n, 1, V]: this target's position only
            out.append(self.step.fn(logits_t, self.target_ids[t : t + 1], self.contrast_id)[:, 0])
        return out

    def _from_rows(self, hidden: torch.Tensor, head: torch.nn.Linear) -> list[torch.Tensor]:
        """Logit step functions see only the vocabulary columns they gather from."""
        columns = self.target_ids.tolist() + ([] if self.contrast_id is None else [self.contrast_id])
        vocab = sorted(set(columns))
        index = {v: i for i, v in enumerate(vocab)}
        rows = torch.tensor(vocab, device=hidden.device)
        weight = head.weight[rows]  # [K, d]
        bias = None if head.bias is None else head.bias[rows]
        sub_ids = torch.tensor([index[v] for v in self.target_ids.tolist()], device=hidden.device)
        sub_contrast = None if self.contrast_id is None else index[self.contrast_id]
        out = []
        for t in range(self.n_targets):
            logits_t = torch.nn.functional.linear(hidden[:, t : t + 1], weight, bias)  # [n, 1, K]
            out.append(self.step.fn(logits_t, sub_ids[t : t + 1], sub_contrast)[:, 0])
        return out


def causal_logits(model: Any, emb: torch.Tensor, n_targets: int) -> torch.Tensor:
    """The model's own logits at the last ``n_targets`` positions: ``[n, T, V]``. ``logits_to_keep``
    spares the LM head the prompt's positions (T_prompt × d × V multiply-adds per point)."""
    return model(inputs_embeds=emb, logits_to_keep=n_targets, use_cache=False).logits[:, -n_targets:]


# weak keys: switching models in a long-lived daemon must not keep the old one alive
_SPLIT_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def split_body_and_head(model: Any) -> tuple[Any, torch.nn.Linear] | None:
    """(body, head) when ``model(x).logits == head(body(x).last_hidden_state)``, else None.

    Checked once per model on a short random sequence, to a relative 1e-4.
    """
    if model in _SPLIT_CACHE:
        return _SPLIT_CACHE[model]
    result = None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    body = getattr(model, "base_model", None)
    if isinstance(head, torch.nn.Linear) and body is not None and body is not model:
        generator = torch.Generator().manual_seed(0)
        vocab = head.weight.shape[0]
        probe = torch.randint(0, vocab, (1, 6), generator=generator).to(head.weight.device)
        with torch.no_grad():
            try:
                full = model(input_ids=probe, use_cache=False).logits.float()
                split = head(body(input_ids=probe, use_cache=False).last_hidden_state).float()
            except (TypeError, AttributeError, ValueError):
                split = None
        if split is not None and split.shape == full.shape:
            scale = float(full.abs().max()) or 1.0
            if float((full - split).abs().max()) <= 1e-4 * scale:
                result = (body, head)
    _SPLIT_CACHE[model] = result
    return result
