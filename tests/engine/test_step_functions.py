"""Step functions beyond the logit: entropy, KL divergence, contrast prompts and texts, and the
user's own (``module:function``, entry points), each against values computed here."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

from tokenlight import InputError, attribute
from tokenlight.engine.step_functions import StepFunctionError, get_step_function, unregister_step_function

PROMPT = "def add(a, b):\n    return"
TARGET = " a + b"


def _ids(res) -> list[int]:
    return [t.id for t in res.source_tokens] + [t.id for t in res.target_tokens]


def _logits_at_targets(lm, ids: list[int], n_before: int, n_targets: int) -> torch.Tensor:
    """The model's logits at the positions predicting the last ``n_targets`` tokens: [T, V]."""
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0].double()
    return logits[n_before - 1 : n_before - 1 + n_targets]


def test_entropy_at_x_is_the_softmax_entropy(lm):
    res = attribute(lm, PROMPT, target_text=TARGET, step_function="entropy", n_steps=24)
    s, n = len(res.source_tokens), len(res.target_tokens)
    p = _logits_at_targets(lm, _ids(res), s, n).softmax(-1)
    expected = -(p * p.log()).sum(-1)
    np.testing.assert_allclose(res.target_scores, expected.numpy(), rtol=1e-5)
    change = res.target_scores - res.baseline_scores
    assert np.all(np.abs(res.deltas) <= 0.01 * np.abs(change) + 1e-4)


def test_kl_divergence_at_x_against_the_contrast_prompt(lm):
    other = "class Point:\n    x ="
    res = attribute(lm, PROMPT, target_text=TARGET, step_function="kl_divergence", contrast_prompt=other, n_steps=24)
    s, n = len(res.source_tokens), len(res.target_tokens)
    log_p = _logits_at_targets(lm, _ids(res), s, n).log_softmax(-1)
    contrast_prompt = [lm.tokenizer.bos_token_id, *lm.tokenizer(other, add_special_tokens=False)["input_ids"]]
    contrast_ids = contrast_prompt + [t.id for t in res.target_tokens]
    log_q = _logits_at_targets(lm, contrast_ids, len(contrast_prompt), n).log_softmax(-1)
    expected = (log_p.exp() * (log_p - log_q)).sum(-1)
    np.testing.assert_allclose(res.target_scores, expected.numpy(), rtol=1e-4)
    assert res.options["contrast_prompt"] == other
    total = np.nansum(res.scores, 1)
    np.testing.assert_allclose(res.deltas, total - (res.target_scores - res.baseline_scores), atol=1e-4)


def test_multi_token_contrast_text_aligns_position_by_position(lm):
    """Hand-built: target t against contrast token t, predicted after contrast tokens < t, and the
    attribution equals captum's IG of that very function written out here."""
    contrast = " b - a"
    res = attribute(lm, PROMPT, target_text=TARGET, step_function="logit_diff", contrast_text=contrast, n_steps=16)
    s, n = len(res.source_tokens), len(res.target_tokens)
    ys = [t.id for t in res.target_tokens]
    ys_contrast = lm.tokenizer(contrast, add_special_tokens=False)["input_ids"]
    assert len(ys_contrast) == n == 3  # ' a', ' +', ' b' against ' b', ' -', ' a'
    prompt = [t.id for t in res.source_tokens]
    main = _logits_at_targets(lm, prompt + ys, s, n)
    other = _logits_at_targets(lm, prompt + ys_contrast, s, n)
    expected = [float(main[t, ys[t]] - other[t, ys_contrast[t]]) for t in range(n)]
    np.testing.assert_allclose(res.target_scores, expected, rtol=1e-5, atol=1e-5)

    emb = lm.embedding
    x = emb(torch.tensor([prompt + ys[:-1]])).detach()
    fixed = emb(torch.tensor(ys_contrast[:-1])).detach()
    for t in range(n):

        def f(e: torch.Tensor, t: int = t) -> torch.Tensor:
            mine = lm.model(inputs_embeds=e[:, : s + t]).logits[:, -1, ys[t]]
            theirs_in = torch.cat([e[:, :s], fixed[:t].unsqueeze(0).expand(e.shape[0], -1, -1)], dim=1)
            theirs = lm.model(inputs_embeds=theirs_in).logits[:, -1, ys_contrast[t]]
            return mine - theirs

        attr = IntegratedGradients(f).attribute(x, baselines=torch.zeros_like(x), n_steps=16, method="gausslegendre")
        attr = attr.sum(-1)[0, : s + t].numpy()
        np.testing.assert_allclose(res.scores[t, : s + t], attr, atol=1e-4 * np.abs(attr).max(), rtol=0)


def test_contrast_prompt_with_probability_diff_is_complete(lm):
    res = attribute(
        lm, PROMPT, target_text=TARGET, step_function="probability_diff", contrast_prompt="import os\n", n_steps=32
    )
    change = res.target_scores - res.baseline_scores
    assert np.all(np.abs(res.deltas) <= 0.02 * np.abs(change) + 1e-5)


def test_contrast_results_do_not_depend_on_target_groups(lm):
    kwargs = dict(target_text=TARGET, step_function="logit_diff", contrast_text=" b - a", n_steps=8)
    grouped = attribute(lm, PROMPT, **kwargs)
    whole = attribute(lm, PROMPT, group_targets=False, **kwargs)
    np.testing.assert_allclose(grouped.scores, whole.scores, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"step_function": "kl_divergence"}, "give a contrast prompt"),
        ({"step_function": "entropy", "contrast_prompt": "x"}, "a contrast prompt only applies to"),
        ({"step_function": "logit_diff", "contrast_text": " a"}, "the contrast text is 1 token(s) but there are 3"),
        ({"step_function": "logit_diff", "contrast_token": " b", "contrast_text": " b - a"}, "not both"),
        ({"step_function": "no_such_step"}, "unknown step function 'no_such_step'"),
        ({"step_function": "no_such_module_xyz:fn"}, "cannot import module 'no_such_module_xyz'"),
    ],
)
def test_bad_contrast_and_step_options_say_what_to_do(lm, options, message):
    with pytest.raises(InputError, match=_escape(message)):
        attribute(lm, PROMPT, target_text=TARGET, n_steps=4, **options)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module of user step functions on the Python path, forgotten afterwards."""
    (tmp_path / "my_steps.py").write_text(
        textwrap.dedent(
            """
            import torch

            def double_logit(logits, target_id, **context):
                \"\"\"Twice the target's logit.\"\"\"
                return 2 * logits[:, target_id]

            def wrong_shape(logits, target_id, **context):
                return logits[:, :2]

            def raises(logits, target_id, **context):
                raise ValueError("no margin for you")

            def detached(logits, target_id, **context):
                return logits[:, target_id].detach()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_steps"
    for name in ("double_logit", "wrong_shape", "raises", "detached"):
        unregister_step_function(f"my_steps:{name}")
    sys.modules.pop("my_steps", None)


def test_custom_step_function_returning_twice_the_logit_gives_twice_the_attribution(lm, user_module):
    ours = attribute(lm, PROMPT, target_text=TARGET, step_function=f"{user_module}:double_logit", n_steps=16)
    logit = attribute(lm, PROMPT, target_text=TARGET, step_function="logit", n_steps=16)
    np.testing.assert_allclose(ours.scores, 2 * logit.scores, rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ours.target_scores, 2 * logit.target_scores, rtol=1e-6)
    assert ours.step_function == f"{user_module}:double_logit"
    assert get_step_function(f"{user_module}:double_logit").description == "Twice the target's logit."


@pytest.mark.parametrize(
    "name, message",
    [
        ("wrong_shape", "returned shape [2, 2]; it must return one value per path point: [2]"),
        ("raises", "raised ValueError: no margin for you"),
        ("detached", "do not depend on the logits"),
    ],
)
def test_a_custom_step_function_that_misbehaves_is_named(lm, user_module, name, message):
    spec = f"{user_module}:{name}"
    with pytest.raises(StepFunctionError, match=_escape(f"step function {spec!r}")) as info:
        attribute(lm, PROMPT, target_text=TARGET, step_function=spec, method="saliency")
    if name != "wrong_shape":
        assert message in str(info.value)
    else:
        assert "it must return one value per path point" in str(info.value)


def test_entry_point_step_functions_are_found_by_name(lm, tmp_path, monkeypatch):
    """A package that declares ``[tokenlight.step_functions] margin = pkg:fn`` needs no import spec."""
    (tmp_path / "margin_pkg.py").write_text(
        "def margin(logits, target_id, **context):\n"
        "    top = logits.topk(2, dim=-1).values\n"
        "    return logits[:, target_id] - top[:, 1]\n"
    )
    dist = tmp_path / "margin_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: margin-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tokenlight.step_functions]\nmargin = margin_pkg:margin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        from tokenlight.engine.step_functions import list_step_functions

        assert "margin" in [s.id for s in list_step_functions()]
        res = attribute(lm, PROMPT, target_text=TARGET, step_function="margin", method="saliency")
        assert res.step_function == "margin"
        assert np.isfinite(res.target_scores).all()
    finally:
        unregister_step_function("margin")
        sys.modules.pop("margin_pkg", None)
