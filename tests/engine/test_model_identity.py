"""The model identity (the model part of every results-cache key): each kind of edit to the weights,
the tokenizer, the config, the files on disk, the library versions, dtype or device changes it; an
unchanged model, loaded again or copied, keeps it."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import tokenlight.version
from model_files import read_element, rewrite_element, save_model
from tokenlight.engine import LoadedModel, from_objects, load_model
from tokenlight.engine import identity as identity_module


def _copy(lm: LoadedModel) -> LoadedModel:
    return from_objects(copy.deepcopy(lm.model), copy.deepcopy(lm.tokenizer), name=lm.name)


def test_an_unchanged_model_keeps_its_identity(tiny_gpt2):
    first = tiny_gpt2.identity
    assert tiny_gpt2.identity == first and len(first) == 64
    assert _copy(tiny_gpt2).identity == first  # content, not object identity


def _scale_rows(model: torch.nn.Module) -> None:
    model.transformer.wte.weight[1:100] *= 1.5  # 99 embedding rows (a 64-value sample missed this)


def _double_columns(model: torch.nn.Module) -> None:
    model.transformer.h[0].mlp.c_fc.weight[:, 1:] *= 2  # every column but the first


def _one_element(model: torch.nn.Module) -> None:
    model.transformer.h[1].attn.c_proj.weight[3, 5] += 1e-3


def _add_buffer(model: torch.nn.Module) -> None:
    model.transformer.register_buffer("extra", torch.zeros(3))


WEIGHT_EDITS: dict[str, Callable[[torch.nn.Module], None]] = {
    "99 embedding rows": _scale_rows,
    "an MLP weight but its first column": _double_columns,
    "one element": _one_element,
    "a new buffer": _add_buffer,
}


@pytest.mark.parametrize("edit", WEIGHT_EDITS, ids=list(WEIGHT_EDITS))
def test_every_weight_edit_changes_the_identity(tiny_gpt2, edit):
    lm = _copy(tiny_gpt2)
    before = lm.identity
    with torch.no_grad():
        WEIGHT_EDITS[edit](lm.model)
    assert lm.identity != before  # an in-memory model is digested whenever asked


def test_a_buffer_edit_changes_the_identity(tiny_gpt2):
    lm = _copy(tiny_gpt2)
    lm.model.transformer.register_buffer("extra", torch.zeros(3))
    before = lm.identity
    lm.model.transformer.extra[1] = 2.0
    assert lm.identity != before


def _lowercase(tokenizer) -> None:
    from tokenizers import normalizers

    tokenizer.backend_tokenizer.normalizer = normalizers.Lowercase()


def _other_pad(tokenizer) -> None:
    tokenizer.pad_token = tokenizer.eos_token


TOKENIZER_EDITS = {"a normalizer": _lowercase, "the pad token": _other_pad}


@pytest.mark.parametrize("edit", TOKENIZER_EDITS, ids=list(TOKENIZER_EDITS))
def test_tokenizer_edits_that_keep_its_size_change_the_identity(tiny_gpt2, edit):
    lm = _copy(tiny_gpt2)
    before, size = lm.identity, len(lm.tokenizer)
    TOKENIZER_EDITS[edit](lm.tokenizer)
    assert len(lm.tokenizer) == size and lm.identity != before


def test_config_dtype_and_device_enter_the_identity(tiny_gpt2):
    lm = _copy(tiny_gpt2)
    before = lm.identity
    assert dataclasses.replace(lm, device=torch.device("meta")).identity != before
    assert dataclasses.replace(lm, dtype=torch.bfloat16).identity != before
    lm.model.config.layer_norm_epsilon *= 10
    assert lm.identity != before


def test_library_versions_enter_the_identity(tiny_gpt2, monkeypatch):
    before = tiny_gpt2.identity
    monkeypatch.setattr(tokenlight.version, "__version__", tokenlight.version.__version__ + ".post1")
    after_tokenlight = tiny_gpt2.identity
    real = identity_module.metadata.version
    monkeypatch.setattr(
        identity_module.metadata, "version", lambda name: real(name) + ("+x" if name == "torch" else "")
    )
    assert len({before, after_tokenlight, tiny_gpt2.identity}) == 3
    assert set(identity_module.library_versions()) == {"tokenlight", *identity_module.VERSIONED_PACKAGES}


# ----------------------------------------------------------------------------------------------
# models loaded from a folder

WEIGHT = "transformer.h.0.mlp.c_fc.weight"


def _load(folder: Path) -> LoadedModel:
    return load_model(str(folder), device="cpu", dtype="float32")


@pytest.fixture
def saved(tiny_gpt2, tmp_path) -> Path:
    return save_model(tiny_gpt2, tmp_path / "model")


def test_a_folder_loaded_twice_unchanged_has_one_identity(saved):
    first, second = _load(saved), _load(saved)
    assert first.identity == second.identity
    assert not first.files_changed() and not second.files_changed()


def _edit_weight_in_place(folder: Path) -> None:
    path = folder / "model.safetensors"
    rewrite_element(path, WEIGHT, 7, read_element(path, WEIGHT, 7) + 0.25)


def _edit_weight_and_restore_mtime(folder: Path) -> None:
    path = folder / "model.safetensors"
    st = path.stat()
    _edit_weight_in_place(folder)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # what touch -r, cp -p, rsync -t do


def _edit_tokenizer(folder: Path) -> None:
    path = folder / "tokenizer.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["pre_tokenizer"]["add_prefix_space"] = not spec["pre_tokenizer"]["add_prefix_space"]
    path.write_text(json.dumps(spec), encoding="utf-8")


def _add_file(folder: Path) -> None:
    (folder / "chat_template.jinja").write_text("{{ messages }}")


FILE_EDITS: dict[str, Callable[[Path], None]] = {
    "one weight element in place": _edit_weight_in_place,
    "one weight element, mtime put back": _edit_weight_and_restore_mtime,
    "the tokenizer file": _edit_tokenizer,
    "a file added": _add_file,
}


@pytest.mark.parametrize("edit", FILE_EDITS, ids=list(FILE_EDITS))
def test_every_edit_of_the_files_is_noticed(saved, edit):
    lm = _load(saved)
    size = (saved / "model.safetensors").stat().st_size
    FILE_EDITS[edit](saved)
    assert (saved / "model.safetensors").stat().st_size == size
    assert lm.files_changed()  # the resident model knows it is stale
    assert _load(saved).identity != lm.identity  # and a load of the new files is another key


def test_hidden_files_do_not_make_a_model_stale(saved):
    lm = _load(saved)
    (saved / ".DS_Store").write_bytes(b"\0")
    (saved / ".model.safetensors.swp").write_bytes(b"\0")
    assert not lm.files_changed() and _load(saved).identity == lm.identity


def test_a_weight_edit_in_place_keeps_size_and_header_yet_changes_the_weights(saved):
    """The edit the tests above use is the hard case: only the data bytes change."""
    path = saved / "model.safetensors"
    header = identity_module.safetensors_header_digest(path)
    before = _load(saved).model.get_parameter(WEIGHT).reshape(-1)[7].item()
    _edit_weight_in_place(saved)
    assert identity_module.safetensors_header_digest(path) == header
    assert _load(saved).model.get_parameter(WEIGHT).reshape(-1)[7].item() == pytest.approx(before + 0.25)


def _snapshot(cache: Path, repo: str, revision: str, model: Path) -> None:
    """Put ``model``'s files into a Hugging Face cache layout as ``revision`` and point main at it."""
    import shutil

    root = cache / f"models--{repo.replace('/', '--')}"
    shutil.copytree(model, root / "snapshots" / revision)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(revision)


def test_a_newer_revision_in_the_hub_cache_makes_the_model_stale(saved, tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache, repo = tmp_path / "hub", "someone/tiny"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    _snapshot(cache, repo, "a" * 40, saved)
    first = load_model(repo, device="cpu", dtype="float32")
    assert first.folder == cache / "models--someone--tiny" / "snapshots" / ("a" * 40)
    assert not first.files_changed()
    _snapshot(cache, repo, "b" * 40, saved)  # a download of a new revision moves refs/main
    assert first.files_changed()
    second = load_model(repo, device="cpu", dtype="float32")
    assert second.folder.name == "b" * 40 and second.identity != first.identity


def test_a_file_changed_during_the_load_makes_a_key_no_later_load_shares(saved, monkeypatch):
    """The weights read may be either version: such a load's results must never be reused."""
    from tokenlight.engine import models

    real = models._auto_class

    class EditAfterReading:
        def __init__(self, kind: str) -> None:
            self.cls = real(kind)

        def from_pretrained(self, *args, **kwargs):
            loaded = self.cls.from_pretrained(*args, **kwargs)
            _edit_weight_in_place(saved)
            return loaded

    monkeypatch.setattr(models, "_auto_class", EditAfterReading)
    torn = _load(saved)
    monkeypatch.setattr(models, "_auto_class", real)
    assert torn.files_changed()
    assert torn.identity != _load(saved).identity
