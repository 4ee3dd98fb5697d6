"""Loading never runs code from a model folder: no remote code by default, no pickle payloads."""

from __future__ import annotations

import contextlib
import json
import pickle

import pytest
import torch

from tokenlight import TokenlightError, load_model


def test_remote_code_is_not_run_unless_asked(tmp_path, tiny_gpt2):
    marker = tmp_path / "ran.txt"
    tiny_gpt2.model.save_pretrained(tmp_path)
    tiny_gpt2.tokenizer.save_pretrained(tmp_path)
    (tmp_path / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('code ran')\n"
        "from transformers import GPT2Config\n\nclass EvilConfig(GPT2Config):\n    model_type = 'gpt2'\n"
    )
    config = json.loads((tmp_path / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    # transformers ignores the folder's auto_map unless remote code is trusted: the model loads as a
    # plain GPT-2, and the folder's Python never runs
    loaded = load_model(str(tmp_path), device="cpu")
    assert type(loaded.model.config).__name__ == "GPT2Config"
    assert not marker.exists()
    # the marker does work: opting in runs the folder's code
    with contextlib.suppress(TokenlightError):  # whether the class then loads does not matter here
        load_model(str(tmp_path), device="cpu", trust_remote_code=True)
    assert marker.exists()


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def test_a_pickle_checkpoint_with_code_is_refused(tmp_path, tiny_gpt2):
    marker = tmp_path / "ran.txt"
    tiny_gpt2.model.config.save_pretrained(tmp_path)
    tiny_gpt2.tokenizer.save_pretrained(tmp_path)
    state = {k: v.clone() for k, v in tiny_gpt2.model.state_dict().items()}
    state["evil"] = _Payload(str(marker))
    torch.save(state, tmp_path / "pytorch_model.bin", pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(TokenlightError, match=r"holds objects other than tensors"):
        load_model(str(tmp_path), device="cpu")
    assert not marker.exists()
