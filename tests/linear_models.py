"""A model whose logits are linear in its input embeddings, and its exact attributions.

logit_y(p) = Σ_{q ≤ p} ⟨W_y, e_q⟩ + c_y, so ∂logit/∂e_q = W_y for every q ≤ p and
IG_q = ⟨W_y, e_q − e′_q⟩ exactly, whatever the quadrature. Shared by the tests of every method
whose defining property a linear model pins down (the fixture ``linear_lm`` is in conftest.py).
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import PretrainedConfig


class LogitsOutput:
    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits


class LinearCausalLM(torch.nn.Module):
    def __init__(self, vocab: int, dim: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.embed = torch.nn.Embedding(vocab, dim)
        self.embed.weight.data = torch.randn(vocab, dim, generator=g, dtype=torch.float64).float()
        self.head = torch.randn(vocab, dim, generator=g).float()
        self.bias = torch.randn(vocab, generator=g).float()
        self.config = PretrainedConfig(n_positions=128)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.embed

    def forward(self, inputs_embeds: torch.Tensor, logits_to_keep: int = 0, use_cache: bool = False) -> LogitsOutput:
        hidden = inputs_embeds.cumsum(dim=1)  # causal: position p sees positions ≤ p
        logits = hidden @ self.head.T + self.bias
        return LogitsOutput(logits[:, -logits_to_keep:] if logits_to_keep else logits)


def linear_expected(linear_lm, res, baseline_vec: torch.Tensor) -> np.ndarray:
    """IG's exact scores ⟨W_y, e_q − e′_q⟩ for every target row (NaN where a target cannot see)."""
    model = linear_lm.model
    ids = [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]
    emb = model.embed.weight[torch.tensor(ids)].double()
    expected = np.full(res.scores.shape, np.nan)
    s = len(res.source_tokens)
    for t, target in enumerate(res.target_tokens):
        w = model.head[target.id].double()
        expected[t, : s + t] = ((emb[: s + t] - baseline_vec.double()) @ w).numpy()
    return expected
