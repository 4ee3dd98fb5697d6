"""The methods beyond gradients × path: each checked against its defining property."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import PretrainedConfig

from linear_models import LogitsOutput, linear_expected
from tokenlight import InputError, attribute
from tokenlight.engine import from_objects, list_methods

PROMPT = "def add(a, b):\n    return"


class ReluCausalLM(torch.nn.Module):
    """A causal model made of ReLUs and linear maps only: DeepLift's rules are exact here."""

    def __init__(self, vocab: int, dim: int = 12, hidden: int = 24) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.embed = torch.nn.Embedding(vocab, dim)
        self.fc = torch.nn.Linear(dim, hidden)
        self.relu = torch.nn.ReLU()
        self.head = torch.nn.Linear(hidden, vocab)
        self.config = PretrainedConfig(n_positions=128)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.embed

    def forward(self, inputs_embeds: torch.Tensor, logits_to_keep: int = 0, use_cache: bool = False) -> LogitsOutput:
        logits = self.head(self.relu(self.fc(inputs_embeds.cumsum(dim=1))))
        return LogitsOutput(logits[:, -logits_to_keep:] if logits_to_keep else logits)


@pytest.fixture(scope="module")
def relu_lm(tokenizer):
    return from_objects(ReluCausalLM(len(tokenizer)), tokenizer, name="relu")


def _full_embeddings(lm, res) -> torch.Tensor:
    ids = torch.tensor([t.id for t in res.source_tokens] + [t.id for t in res.target_tokens])
    return lm.model.get_input_embeddings()(ids).detach()


def test_every_method_is_listed_with_an_honest_description():
    ids = [m.id for m in list_methods()]
    for expected in ("occlusion", "gradient_shap", "deeplift", "deeplift_shap", "lime", "kernel_shap", "attention"):
        assert expected in ids
    attention = next(m for m in list_methods() if m.id == "attention").describe()
    assert attention["description"].startswith("Not an attribution")


def test_occlusion_is_the_measured_output_change(lm):
    res = attribute(lm, PROMPT, target_text=" a + b", method="occlusion")
    emb = _full_embeddings(lm, res)
    s = len(res.source_tokens)
    for t, target in enumerate(res.target_tokens):
        for i in range(s + t):
            occluded = emb.clone()
            occluded[i] = 0.0  # the zero baseline
            with torch.no_grad():
                full = lm.model(inputs_embeds=emb[None]).logits[0, s - 1 + t, target.id]
                without = lm.model(inputs_embeds=occluded[None]).logits[0, s - 1 + t, target.id]
            assert res.scores[t, i] == pytest.approx(float(full - without), abs=2e-5)
    assert res.deltas is None


def test_occlusion_chunking_and_grouping_never_change_results(lm):
    one = attribute(lm, PROMPT, target_text=" a + b", method="occlusion", internal_batch_size=1, baseline="unk")
    every = attribute(lm, PROMPT, target_text=" a + b", method="occlusion", group_targets=False, baseline="unk")
    np.testing.assert_allclose(one.scores, every.scores, atol=1e-5)


def test_gradient_shap_is_seeded_and_complete_on_a_linear_model(linear_lm, lm):
    a = attribute(lm, PROMPT, target_text=" a", method="gradient_shap", seed=5, n_samples=16)
    b = attribute(lm, PROMPT, target_text=" a", method="gradient_shap", seed=5, n_samples=16, internal_batch_size=3)
    c = attribute(lm, PROMPT, target_text=" a", method="gradient_shap", seed=6, n_samples=16)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    assert not np.allclose(a.scores, c.scores, equal_nan=True)
    assert a.n_steps == 16
    # f linear: E f(x′ᵢ) = f(E x′ᵢ) and the gradient is constant, so completeness holds exactly per sample set
    linear = attribute(linear_lm, "x = 1", target_text=" + 2", method="gradient_shap", n_samples=8)
    np.testing.assert_allclose(linear.deltas, 0.0, atol=1e-4)


def test_deeplift_is_exact_on_relu_networks_and_says_so_elsewhere(relu_lm, tiny_gpt2):
    res = attribute(relu_lm, "x = [1, 2", target_text=", 3]", method="deeplift", baseline="unk")
    change = np.abs(res.target_scores - res.baseline_scores)
    assert np.all(np.abs(res.deltas) <= 1e-4 * np.maximum(change, 1.0))
    np.testing.assert_allclose(
        np.nansum(res.scores, 1) - (res.target_scores - res.baseline_scores), res.deltas, atol=1e-4
    )
    assert res.warnings == []
    shap = attribute(relu_lm, "x = [1, 2", target_text=", 3]", method="deeplift_shap", n_samples=4)
    assert np.all(np.abs(shap.deltas) <= 1e-3 * np.maximum(np.abs(shap.target_scores), 1.0)) and shap.warnings == []

    flagged = attribute(tiny_gpt2, "x = [1, 2", target_text=", 3]", method="deeplift")
    assert len(flagged.warnings) == 1
    warning = flagged.warnings[0]
    assert "unreliable" in warning and "layer normalisation" in warning and "attention softmax" in warning
    assert warning in flagged.notes and flagged.to_json_dict()["warnings"] == [warning]


def test_kernel_shap_recovers_exact_shapley_values_of_a_linear_model(linear_lm):
    res = attribute(linear_lm, "def f(x):", target_text=" return", method="kernel_shap", n_samples=300)
    expected = linear_expected(linear_lm, res, torch.zeros(16))[0, : len(res.source_tokens)]  # w·(x_i − 0)
    np.testing.assert_allclose(res.scores[0, : len(res.source_tokens)], expected, rtol=1e-4, atol=1e-4)
    again = attribute(linear_lm, "def f(x):", target_text=" return", method="kernel_shap", n_samples=300)
    np.testing.assert_array_equal(res.scores, again.scores)


def test_lime_fits_a_linear_model_locally(linear_lm):
    res = attribute(linear_lm, "def f(x):", target_text=" return", method="lime", n_samples=400)
    expected = linear_expected(linear_lm, res, torch.zeros(16))[0, : len(res.source_tokens)]
    np.testing.assert_allclose(
        res.scores[0, : len(res.source_tokens)], expected, rtol=2e-2, atol=2e-2 * np.abs(expected).max()
    )


def test_attention_rows_are_the_models_own_weights(lm):
    res = attribute(lm, PROMPT, target_text=" a + b", method="attention")
    s = len(res.source_tokens)
    ids = torch.tensor([[t.id for t in res.source_tokens] + [t.id for t in res.target_tokens[:-1]]])
    lm.model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            last = lm.model(input_ids=ids, output_attentions=True).attentions[-1][0].mean(0)
    finally:
        lm.model.set_attn_implementation("sdpa")
    for t in range(len(res.target_tokens)):
        row = res.scores[t, : s + t]
        np.testing.assert_allclose(row, last[s - 1 + t, : s + t].numpy(), atol=1e-5)
        assert row.sum() == pytest.approx(1.0, abs=1e-5) and np.all(row >= 0)
    mean = attribute(lm, PROMPT, target_text=" a + b", method="attention", layers="mean")
    assert not np.allclose(mean.scores, res.scores, equal_nan=True)
    assert lm.model.config._attn_implementation == "sdpa"  # switched back after the pass


def test_attention_needs_a_causal_lm(tiny_classifier):
    with pytest.raises(InputError, match="attention"):
        attribute(tiny_classifier, "great code", method="attention")


def test_word_aggregation_sums_subwords_and_keeps_deltas(lm):
    prompt = "self.assertEqual(x, 漢字)"
    tokens = attribute(lm, prompt, target_text="\n", n_steps=16)
    words = attribute(lm, prompt, target_text="\n", n_steps=16, aggregate="word")
    assert len(words.source_tokens) < len(tokens.source_tokens)
    np.testing.assert_array_equal(words.deltas, tokens.deltas)
    assert np.nansum(words.scores) == pytest.approx(float(np.nansum(tokens.scores)), rel=1e-5)
    for word in words.source_tokens:
        if not word.special:
            assert word.text == prompt[word.start : word.end]
            members = [t for t in tokens.source_tokens if not t.special and word.start <= t.start and t.end <= word.end]
            expected = sum(tokens.scores[0, tokens.source_tokens.index(t)] for t in members)
            assert words.scores[0, words.source_tokens.index(word)] == pytest.approx(float(expected), abs=1e-5)
    assert any(w.text == " 漢字" for w in words.source_tokens)  # six byte pieces, one word
    assert words.source_tokens[0].special  # BOS stays on its own
    with pytest.raises(InputError, match="unknown aggregate 'sentence'; choose one of: token, word"):
        attribute(lm, prompt, target_text="\n", aggregate="sentence")


def test_sequential_ig_is_complete_per_token_and_equals_occlusion(tiny_gpt2):
    kwargs = {"target_text": ", 3]", "baseline": "unk"}
    sig = attribute(tiny_gpt2, "x = [1, 2", method="sequential_integrated_gradients", n_steps=24, **kwargs)
    occlusion = attribute(tiny_gpt2, "x = [1, 2", method="occlusion", **kwargs)
    scale = np.nanmax(np.abs(occlusion.scores))
    np.testing.assert_allclose(sig.scores, occlusion.scores, atol=1e-3 * scale)
    assert np.all(np.abs(sig.deltas) <= 1e-3 * scale)
    chunked = attribute(
        tiny_gpt2, "x = [1, 2", method="sequential_integrated_gradients", n_steps=24, internal_batch_size=7, **kwargs
    )
    np.testing.assert_allclose(chunked.scores, sig.scores, atol=1e-6 * scale)


def test_guided_ig_is_exact_on_a_linear_model_and_converges(linear_lm, tiny_gpt2):
    # a constant gradient makes every path give w·(x − x′): the adaptive path changes nothing there
    res = attribute(linear_lm, "def add(a, b):", target_text=" return", method="guided_integrated_gradients", n_steps=8)
    np.testing.assert_allclose(res.scores, linear_expected(linear_lm, res, torch.zeros(16)), rtol=1e-5, atol=1e-5)
    few = attribute(tiny_gpt2, "x = [1, 2", target_text=", 3]", method="guided_integrated_gradients", n_steps=4)
    many = attribute(tiny_gpt2, "x = [1, 2", target_text=", 3]", method="guided_integrated_gradients", n_steps=64)
    change = np.abs(many.target_scores - many.baseline_scores)
    assert np.abs(many.deltas).max() < np.abs(few.deltas).max()
    assert np.all(np.abs(many.deltas) <= 0.05 * change + 1e-4)


@pytest.fixture
def knn_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLIGHT_CACHE_DIR", str(tmp_path))
    return tmp_path / "knn"


@pytest.mark.parametrize("strategy", ["greedy", "maxcount"])
def test_dig_paths_are_monotonic_and_end_at_baseline_and_input(lm, knn_cache, strategy):
    from tokenlight.engine.methods.discretized_integrated_gradients import knn_graph, monotonic_path

    table = lm.embedding.weight.detach()
    graph = knn_graph(table, "test-model", 20)
    baseline = torch.zeros(table.shape[1], dtype=torch.float64)
    for word in lm.tokenizer(" return value", add_special_tokens=False)["input_ids"]:
        path = monotonic_path(word, baseline, table, graph, 12, strategy)
        assert path.shape == (14, table.shape[1])
        assert torch.equal(path[0], baseline) and torch.allclose(path[-1], table[word].double())
        for k in range(len(path) - 1):  # every dimension moves monotonically from the baseline to the input
            low = torch.minimum(path[k], path[-1]) - 1e-12
            high = torch.maximum(path[k], path[-1]) + 1e-12
            assert torch.all((path[k + 1] >= low) & (path[k + 1] <= high))


def test_dig_knn_graph_is_exact_and_cached_on_disk(lm, knn_cache):
    from tokenlight.engine.methods.discretized_integrated_gradients import knn_graph

    table = lm.embedding.weight.detach()
    graph = knn_graph(table, "test-model", 8)
    distances = ((table[100].unsqueeze(0) - table) ** 2).sum(1)
    distances[100] = float("inf")
    assert set(graph[100].tolist()) == set(distances.topk(8, largest=False).indices.tolist())
    (cached,) = knn_cache.glob("*.msgpack")
    stamp = cached.stat().st_mtime_ns
    assert np.array_equal(knn_graph(table, "test-model", 8), graph) and cached.stat().st_mtime_ns == stamp
    cached.write_bytes(b"\x93not a graph")  # corrupt: rebuilt and replaced
    assert np.array_equal(knn_graph(table, "test-model", 8), graph) and cached.stat().st_mtime_ns != stamp


def test_dig_is_exact_on_a_linear_model_whatever_the_path(linear_lm, knn_cache):
    res = attribute(
        linear_lm, "def add(a, b):", target_text=" return", method="discretized_integrated_gradients", n_steps=6
    )
    np.testing.assert_allclose(res.scores, linear_expected(linear_lm, res, torch.zeros(16)), rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="unknown strategy 'random'; choose one of: greedy, maxcount"):
        attribute(linear_lm, "a", target_text=" b", method="discretized_integrated_gradients", strategy="random")
