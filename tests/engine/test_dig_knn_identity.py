"""Discretized IG's kNN graphs are cached on disk by the embedding table's identity: an edit of the
table that changes the neighbours is a new key, so a stale graph is never read back."""

from __future__ import annotations

import numpy as np
import torch

from tokenlight.engine.methods.discretized_integrated_gradients import _identity, knn_graph


def _neighbours(table: torch.Tensor, k: int) -> np.ndarray:
    """Each row's k nearest other rows, by a literal loop (the independent answer)."""
    out = []
    for i in range(table.shape[0]):
        distances = ((table - table[i]) ** 2).sum(1)
        distances[i] = float("inf")
        out.append(sorted(distances.topk(k, largest=False).indices.tolist()))
    return np.array(out)


def test_an_edit_the_old_sample_skipped_gives_a_fresh_graph(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLIGHT_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    before = torch.randn(512, 64)  # 32,768 values: a 4,096-value stride-8 sample skips index 65
    after = before.clone()
    after[1, 1] = 50.0  # row 1 moves far away from every other row
    assert _identity(before) != _identity(after)
    assert _identity(before.clone()) == _identity(before)  # content, not object
    knn_graph(before, _identity(before), 4)  # cached on disk
    graph = knn_graph(after, _identity(after), 4)
    expected = _neighbours(after, 4)
    assert np.array_equal(np.sort(graph, axis=1), expected)
    assert not np.array_equal(expected, _neighbours(before, 4))  # the edit did change neighbours
