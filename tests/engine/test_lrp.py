"""LRP and AttnLRP: each rule's local conservation, the whole model's relevance accounted for to the
last unit of the logit, exact conservation where it holds, and honest errors elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokenlight import attribute
from tokenlight.engine import from_objects
from tokenlight.engine.errors import InputError
from tokenlight.engine.methods import lrp_rules as rules

PROMPT = "def area(width, height):\n    return"


def _gpt2(with_bias: bool) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=100, n_positions=32, n_embd=32, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0)
    return _with_biases(GPT2LMHeadModel(config), with_bias)


def _llama_style(arch: str, with_bias: bool) -> torch.nn.Module:
    import transformers

    prefix = {"llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2", "qwen3": "Qwen3"}[arch]
    config_class = getattr(transformers, f"{prefix}Config")
    model_class = getattr(transformers, f"{prefix}ForCausalLM")
    torch.manual_seed(0)
    options = {"attention_bias": with_bias, "mlp_bias": with_bias} if arch == "llama" else {}
    if arch == "mistral":
        options["sliding_window"] = 4  # shorter than the test sequence: the window lives in the mask
    config = config_class(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention
        head_dim=8,
        max_position_embeddings=64,
        **options,
    )
    return _with_biases(model_class(config), with_bias)


def _with_biases(model: torch.nn.Module, with_bias: bool) -> torch.nn.Module:
    """GPT-2 initialises biases to zero; random ones make the bias terms of the accounting visible."""
    model.eval()
    if with_bias:
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith("bias"):
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return model


BUILDERS = {
    "gpt2": _gpt2,
    **{arch: (lambda with_bias, a=arch: _llama_style(a, with_bias)) for arch in ("llama", "mistral", "qwen2", "qwen3")},
}


# ------------------------------------------------------------------------------------------------
# each rule on its own
def test_identity_rule_passes_relevance_through_unchanged():
    x = torch.randn(50, dtype=torch.float64).requires_grad_(True)
    x.data[0] = 0.0  # act(0) = 0: no relevance, no division by zero
    y = rules.identity_rule(x, torch.nn.functional.gelu)
    upstream = torch.randn(50, dtype=torch.float64)
    (y * upstream).sum().backward()
    torch.testing.assert_close(y, torch.nn.functional.gelu(x))
    torch.testing.assert_close(x.detach() * x.grad, y.detach() * upstream)  # R_in = R_out, element-wise


@pytest.mark.parametrize("op", ["product", "matmul"])
def test_uniform_rule_gives_each_factor_half_and_conserves(op):
    a = torch.randn(3, 4, 5, dtype=torch.float64).requires_grad_(True)
    b = torch.randn(3, 5, 6 if op == "matmul" else 5, dtype=torch.float64)
    if op == "product":
        b = torch.randn(3, 4, 5, dtype=torch.float64)
    b.requires_grad_(True)
    z = rules.uniform_matmul(a, b) if op == "matmul" else rules.uniform_product(a, b)
    torch.testing.assert_close(z, a @ b if op == "matmul" else a * b)
    upstream = torch.randn_like(z)
    (z * upstream).sum().backward()
    relevance_out = (z.detach() * upstream).sum()
    relevance_a, relevance_b = (a.detach() * a.grad).sum(), (b.detach() * b.grad).sum()
    torch.testing.assert_close(relevance_a + relevance_b, relevance_out)
    if op == "product":  # element-wise: exactly half each, per element
        torch.testing.assert_close(a.detach() * a.grad, 0.5 * z.detach() * upstream)


def test_layer_norm_rule_holds_the_scale_and_conserves():
    norm = torch.nn.LayerNorm(16, elementwise_affine=True, bias=False).double()
    with torch.no_grad():
        norm.weight.normal_()
    x = torch.randn(4, 16, dtype=torch.float64).requires_grad_(True)
    y = rules._layer_norm(norm, x)
    torch.testing.assert_close(y, norm(x))
    upstream = torch.randn_like(y)
    (y * upstream).sum().backward()
    torch.testing.assert_close((x.detach() * x.grad).sum(-1), (y.detach() * upstream).sum(-1))


def test_softmax_rule_is_attnlrps_proposition():
    """x·(plain gradient) = xᵢ(Rᵢ − sᵢ Σⱼ Rⱼ) with Rⱼ = sⱼγⱼ (Achtibat et al. 2024, Prop. 3.1)."""
    x = torch.randn(2, 7, dtype=torch.float64).requires_grad_(True)
    s = rules.attention_softmax(x).double()
    upstream = torch.randn_like(s)
    (s * upstream).sum().backward()
    relevance_out = s.detach() * upstream
    expected = x.detach() * (relevance_out - s.detach() * relevance_out.sum(-1, keepdim=True))
    torch.testing.assert_close(x.detach() * x.grad, expected, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------------------------
# whole models
def _relevance_accounting(model: torch.nn.Module, variant: str, monkeypatch) -> dict[str, float]:
    """One target logit's relevance, split into tokens, biases and what the softmaxes absorbed."""
    model.requires_grad_(True)
    softmaxes: list[tuple[torch.Tensor, torch.Tensor]] = []
    plain_softmax = rules.attention_softmax

    def recording_softmax(scores: torch.Tensor) -> torch.Tensor:
        weights = plain_softmax(scores)
        if scores.requires_grad:
            scores.retain_grad()
            weights.retain_grad()
            softmaxes.append((scores, weights))
        return weights

    monkeypatch.setattr(rules, "attention_softmax", recording_softmax)
    ids = torch.tensor([[5, 17, 42, 8, 99, 3, 61]])
    embeddings = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    with torch.no_grad():
        plain = float(model(inputs_embeds=embeddings).logits[0, -1, 7])
    with rules.relevance_rules(model, variant):
        logit = model(inputs_embeds=embeddings).logits[0, -1, 7]
        logit.backward()
    biases = [p for name, p in model.named_parameters() if name.endswith("bias") and p.grad is not None]
    tokens = rules.input_layer(model, embeddings.detach()) * embeddings.grad
    absorbed = sum(float((w * w.grad).sum() - (s * s.grad).sum()) for s, w in softmaxes if w.grad is not None)
    return {
        "logit": float(logit.detach()),
        "plain_forward": plain,
        "tokens": float(tokens.sum().detach()),
        "biases": sum(float((p * p.grad).sum()) for p in biases),
        "softmax": absorbed,
    }


@pytest.mark.parametrize("with_bias", [False, True], ids=["no-bias", "bias"])
@pytest.mark.parametrize("variant", rules.VARIANTS)
@pytest.mark.parametrize("arch", BUILDERS)
def test_every_unit_of_the_logit_is_accounted_for(arch, variant, with_bias, monkeypatch):
    """logit = R(tokens) + R(biases) + what the softmaxes absorbed, to float precision: every other
    rule (norms, activations, products, residuals, projections, positions) conserves relevance."""
    parts = _relevance_accounting(BUILDERS[arch](with_bias), variant, monkeypatch)
    assert parts["logit"] == pytest.approx(parts["plain_forward"], rel=1e-5, abs=1e-7)  # forward unchanged
    total = parts["tokens"] + parts["biases"] + parts["softmax"]
    assert total == pytest.approx(parts["logit"], rel=1e-5, abs=1e-6)
    if variant == rules.LRP:  # attention weights held constant: nothing is absorbed, so it is conservative
        assert parts["softmax"] == 0.0
    else:
        assert parts["softmax"] != 0.0
    if not with_bias:
        assert parts["biases"] == 0.0


@pytest.mark.parametrize("arch", BUILDERS)
def test_lrp_is_exactly_conservative_on_a_bias_free_model(arch, tokenizer):
    """Through the engine, all targets at once: Σ relevance = the target logit, delta ≈ 0."""
    model = BUILDERS[arch](False)
    model.resize_token_embeddings(len(tokenizer))
    lm = from_objects(model, tokenizer, name=f"tiny-{arch}")
    result = attribute(lm, PROMPT, target_text=" width * height", method="lrp", step_function="logit")
    sums = np.nansum(result.scores, axis=1)
    scale = np.abs(result.target_scores).max()
    np.testing.assert_allclose(sums, result.target_scores, atol=1e-4 * scale)
    np.testing.assert_allclose(result.deltas, 0.0, atol=1e-4 * scale)
    assert not any("LRP" in note for note in result.notes)


def test_rules_are_undone_afterwards_even_after_an_error():
    model = _gpt2(True)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
    implementation = model.config._attn_implementation
    with pytest.raises(RuntimeError, match="stop"), rules.relevance_rules(model, rules.ATTNLRP):
        raise RuntimeError("stop")
    assert model.config._attn_implementation == implementation
    assert not any("forward" in vars(module) for module in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, before)


@pytest.mark.parametrize("method", ["lrp", "attnlrp"])
def test_embedded_model_results_are_grouping_invariant_and_explain_their_delta(lm, method):
    forced = " width * height if width > 0 else 0"
    grouped = attribute(lm, PROMPT, target_text=forced, method=method)
    whole = attribute(lm, PROMPT, target_text=forced, method=method, group_targets=False)
    scale = np.nanmax(np.abs(whole.scores))
    np.testing.assert_allclose(grouped.scores, whole.scores, atol=1e-5 * scale)
    np.testing.assert_allclose(grouped.deltas, whole.deltas, atol=1e-5 * np.abs(whole.target_scores).max())
    # the delta is against f(x): LRP has no baseline
    np.testing.assert_allclose(
        np.nansum(whole.scores, axis=1) - whole.target_scores, whole.deltas, atol=1e-4 * scale * whole.scores.shape[1]
    )
    assert whole.baseline_scores is None
    shares = np.abs(whole.deltas) / np.abs(whole.target_scores)
    noted = [note for note in whole.notes if note.startswith(("LRP:", "AttnLRP:"))]
    assert bool(noted) == bool((shares > 0.05).any())  # the embedded GPT-2 has biases: a note when they matter


def test_unsupported_architecture_is_refused_by_name(tokenizer):
    from transformers import OPTConfig, OPTForCausalLM

    torch.manual_seed(0)
    config = OPTConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        ffn_dim=32,
        num_attention_heads=2,
        word_embed_proj_dim=16,
        max_position_embeddings=64,
    )
    lm = from_objects(OPTForCausalLM(config), tokenizer, name="tiny-opt")
    for method in ("lrp", "attnlrp"):
        with pytest.raises(InputError, match=r"GPT-2 \(gpt2\), Llama \(llama\), Mistral.*'opt'.*integrated_gradients"):
            attribute(lm, PROMPT, target_text=" x", method=method)


def test_probability_step_function_is_refused_with_what_to_use(tiny_gpt2):
    with pytest.raises(InputError, match="logit or logit_diff"):
        attribute(tiny_gpt2, PROMPT, target_text=" x", method="attnlrp", step_function="probability")


def test_sequence_classifier_relevance_sums_to_the_class_logit(tiny_classifier):
    """A GPT-2 classifier (bias-free at initialisation): the class score is linear in the last hidden state."""
    result = attribute(tiny_classifier, "a fine day", method="lrp", target_class="pos")
    assert result.target_kind == "class"
    np.testing.assert_allclose(
        np.nansum(result.scores, axis=1), result.target_scores, atol=1e-4 * np.abs(result.target_scores).max()
    )
