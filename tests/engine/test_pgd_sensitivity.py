"""PGD sensitivity against its definition on a linear model, where the smallest flipping
perturbation of a token is known in closed form: min over v of margin_v / ‖W_y − W_v‖ (over the
competitors the attack targets: the nearest ones by logit)."""

from __future__ import annotations

import numpy as np
import torch

from tokenlight import attribute

PROMPT = "def add(a, b):\n    return"


def test_the_smallest_flipping_radius_is_the_closed_form_one(linear_lm):
    model, tok = linear_lm.model, linear_lm.tokenizer
    prompt_ids = [tok.bos_token_id, *tok(PROMPT, add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        logits = model(inputs_embeds=model.embed(torch.tensor([prompt_ids]))).logits[0, -1].double()
    top = int(logits.argmax())
    text = tok.decode([top])
    assert tok(text, add_special_tokens=False)["input_ids"] == [top]  # the top token, forced as the target
    res = attribute(linear_lm, PROMPT, target_text=text, method="pgd_sensitivity", n_steps=20)
    head = model.head.double()
    from tokenlight.engine.methods.pgd_sensitivity import DEFAULT_COMPETITORS as COMPETITORS

    ranked = logits.argsort(descending=True).tolist()
    others = ranked[1 : 1 + COMPETITORS]
    gaps = (logits[top] - logits[others]) / (head[top] - head[others]).norm(dim=-1)
    radius = float(gaps.min())  # a perturbation of any one token moves every logit by ⟨W_v, δ⟩
    found = 1.0 / res.scores[0, : len(prompt_ids)]
    assert np.all(found >= radius * (1 - 1e-3))  # nothing smaller can flip it
    np.testing.assert_allclose(found, radius, rtol=0.03)  # and PGD finds (nearly) that one


def test_scores_are_nonnegative_and_batched_over_tokens(tiny_gpt2):
    """3 rows per pass cuts between the competitors of one token: the chunking still changes nothing
    (PGD's default 10 steps: with 4 it finds no flip on this random model, registry_options.py)."""
    options = {"target_text": " a", "method": "pgd_sensitivity", "pgd_bisections": 4, "pgd_competitors": 2}
    one = attribute(tiny_gpt2, PROMPT, internal_batch_size=3, **options)
    many = attribute(tiny_gpt2, PROMPT, internal_batch_size=64, **options)
    assert np.all(one.scores[0, :-1] >= 0) and np.any(one.scores[0, :-1] > 0)
    np.testing.assert_allclose(one.scores, many.scores, rtol=1e-4, atol=1e-6, equal_nan=True)
