"""Paths in requests cannot make the daemon write outside its cache folder.

A real daemon over real pipes, with HOME, TMPDIR and its working directory inside a watched
temporary tree (the XDG, Hugging Face, matplotlib and torch cache variables removed, so every
library falls back to HOME or TMPDIR). After a warm-up that imports the engine and loads the model
(the only time libraries may write scratch files, and only under TMPDIR), the tree is snapshotted;
then hostile path-like input goes into every field that could become a path (model ids and paths
with ``..``, absolute paths, ``~``, URIs with ``..`` and percent-escapes, document URIs pointing
outside, Windows paths, method, baseline, step-function and strategy names with ``/`` and ``..``,
progress tokens, prompts and targets that spell paths, a real model folder outside the cache) plus
Discretized IG, which writes an on-disk kNN cache of its own. The snapshot afterwards must differ only
inside the cache folder, whether that folder was named by ``TOKENLIGHT_CACHE_DIR``, by ``--cache-dir``
or by default (``$XDG_CACHE_HOME/tokenlight/results``).
Directory mtimes are compared too, so even a file created and deleted again is noticed.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from lsp_harness import make_client
from lsprotocol import types
from pygls.exceptions import JsonRpcException

PROMPT = "def add(a, b):\n    return a + b\n"
LIBRARY_ENV = ("XDG_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "MPL", "TORCH", "TRITON", "TOKENLIGHT_")


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, int]]:
    """(mode, size, mtime) of every file, folder and link under ``root``, except under ``skip``."""
    seen: dict[str, tuple[int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == skip or skip in here.parents:
            dirnames[:] = []
            continue
        for name in [".", *dirnames, *filenames]:
            path = here / name if name != "." else here
            if path == skip:
                continue
            st = path.lstat()
            seen[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return seen


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(
        f"{'new' if path not in before else 'gone' if path not in after else 'changed'}: {path}"
        for path in set(before) | set(after)
        if before.get(path) != after.get(path)
    )


def rng(line: int, start: int, end: int) -> dict[str, Any]:
    return {"start": {"line": line, "character": start}, "end": {"line": line, "character": end}}


@pytest.mark.parametrize(
    "named_by",
    [
        "TOKENLIGHT_CACHE_DIR",
        "--cache-dir",
        pytest.param("XDG_CACHE_HOME", marks=pytest.mark.skipif(sys.platform != "linux", reason="XDG is Linux's")),
    ],
)
def test_hostile_paths_write_nothing_outside_the_cache_dir(tmp_path: Path, tiny_gpt2, named_by: str) -> None:
    root = tmp_path / "watched"
    home, tmpdir, cwd, victim = root / "home", root / "tmp", root / "a" / "b" / "work", root / "victim"
    # a sibling of everything it must not touch (by default, XDG_CACHE_HOME/tokenlight/results)
    cache = root / "xdg" / "tokenlight" / "results" if named_by == "XDG_CACHE_HOME" else root / "cache"
    for folder in (home, tmpdir, cwd, victim / "empty-folder", cache):
        folder.mkdir(parents=True)
    (home / ".bashrc").write_text("# untouched\n")
    (victim / "file.py").write_text(PROMPT)
    real_model = victim / "real-model"  # a loadable model folder outside the cache: read, never written
    tiny_gpt2.model.save_pretrained(real_model)
    tiny_gpt2.tokenizer.save_pretrained(real_model)
    outside = f"/tmp/tokenlight-must-not-exist-{os.getpid()}-{named_by.strip('-')}"

    env = {k: v for k, v in os.environ.items() if not k.startswith(LIBRARY_ENV)}
    env.update(HOME=str(home), TMPDIR=str(tmpdir), HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    args = ["--log-file", str(tmp_path / "daemon.log"), "--log-level", "debug"]
    if named_by == "TOKENLIGHT_CACHE_DIR":
        env["TOKENLIGHT_CACHE_DIR"] = str(cache)
    elif named_by == "--cache-dir":
        args += ["--cache-dir", str(cache)]
    else:
        env["XDG_CACHE_HOME"] = str(root / "xdg")

    answers: list[tuple[str, str]] = []  # (what, "ok" or the error message): for the failure message
    before = snapshot(root, cache)

    async def scenario() -> dict[str, Any]:
        client = make_client()
        published: list[str] = []

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _diagnostics(params: types.PublishDiagnosticsParams) -> None:
            published.append(params.uri)

        @client.feature(types.PROGRESS)
        def _progress(params: types.ProgressParams) -> None:
            pass  # the hostile workDoneToken's reports

        await client.start_io(sys.executable, "-m", "tokenlight.server", *args, env=env, cwd=str(cwd))

        async def ask(what: str, method: str, params: Any) -> Any:
            try:
                result = await client.protocol.send_request_async(method, params)
            except JsonRpcException as exc:
                answers.append((what, exc.message))
                return None
            answers.append((what, "ok"))
            return result

        def open_doc(uri: str, text: str = PROMPT) -> None:
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
            )

        # -- warm-up: imports and the model load (libraries may write scratch files now) --------
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                root_uri="file:///../../..",
                workspace_folders=[types.WorkspaceFolder(uri=f"file://{victim}/../../..", name="../..")],
                initialization_options={"model": None},
            )
        )
        client.initialized(types.InitializedParams())
        open_doc("file:///warm-up.py")
        await ask(
            "warm-up", "tokenlight/attribute", {"textDocument": {"uri": "file:///warm-up.py"}, "range": rng(0, 0, 14)}
        )
        warm = snapshot(root, cache)

        # -- hostile input ----------------------------------------------------------------------
        models = [
            "../../victim/not-a-model",
            "../../../../../../../../etc",
            "/etc",
            "/",
            "~",
            "~/.ssh",
            "~root",
            str(victim / "empty-folder"),
            str(victim / "not-there"),
            str(victim / "file.py"),
            f"{cache}/../victim/x",
            f"{outside}/model",
            "file:///etc/passwd",
            f"file://{victim}/../../x",
            "..\\..\\windows\\system32",
            "C:\\evil",
            "owner/name/../../../../x",
            "gpt2/../../..",
            "%2e%2e/%2e%2e/etc",
            "--help",
            "a" * 300,
        ]
        for model in models:
            await ask(f"loadModel {model}", "tokenlight/loadModel", {"model": model, "device": "cpu"})
        for device, dtype in (("../../x", "auto"), ("cpu", "../x"), ("cuda:../../", "/etc/passwd")):
            await ask(
                f"loadModel device={device} dtype={dtype}",
                "tokenlight/loadModel",
                {"model": None, "device": device, "dtype": dtype},
            )
        await ask(
            "loadModel a real folder outside the cache",
            "tokenlight/loadModel",
            {"model": str(real_model), "device": "cpu"},
        )

        uris = [
            "file:///../../etc/passwd",
            f"file://{victim}/../escape.py",
            f"file://{victim}/file.py",
            f"file://{home}/.bashrc",
            "file:///%2e%2e/%2e%2e/x.py",
            f"file://{outside}/x.py",
            "untitled:../../x",
            "file://host/share/x.py",
            "../../relative.py",
            "tokenlight:/../../cache",
        ]
        hostile_options = [
            {"method": "../../x"},
            {"method": "integrated_gradients/../../x"},
            {"method": "saliency", "options": {"baseline": "../x"}},
            {"method": "saliency", "options": {"baseline": "token:../../etc/passwd"}},
            {"method": "saliency", "options": {"stepFunction": "/etc/passwd"}},
            {"method": "saliency", "options": {"stepFunction": "logit_diff", "contrastToken": f"{outside}"}},
            {"method": "attention", "options": {"layers": "../../"}},
            {"method": "discretized_integrated_gradients", "options": {"strategy": "../..", "nSteps": 2}},
            {"method": "saliency", "workDoneToken": "../../progress"},
            {"method": "saliency", "target": {"kind": "text", "text": "../../etc/passwd"}},
            {"method": "saliency", "target": {"kind": "following", "maxTokens": 2}},
        ]
        for uri in uris:
            open_doc(uri, f"path = '{outside}/../../x'\n" + PROMPT)
            for extra in hostile_options:
                params = {"textDocument": {"uri": uri}, "range": rng(1, 0, 14), **extra}
                await ask(f"attribute {uri} {extra}", "tokenlight/attribute", params)
            await ask(f"clear {uri}", "tokenlight/clear", {"textDocument": {"uri": uri}})
            client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
        await ask("focus", "tokenlight/focus", {"id": "../../r1", "target": None})

        # settings naming hostile models, then the attribution that would load them
        for model in ("~/evil-model", f"{outside}/m", "../../victim/x"):
            client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings={"tokenlight": {"model": model, "device": "../x"}})
            )
            await ask(
                f"attribute with settings model {model}",
                "tokenlight/attribute",
                {"textDocument": {"uri": "file:///warm-up.py"}, "range": rng(0, 0, 14)},
            )
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"tokenlight": {"model": None, "device": "cpu"}})
        )
        # Discretized IG keeps a kNN graph of the vocabulary on disk: it must go into the cache folder
        dig = await ask(
            "discretized IG",
            "tokenlight/attribute",
            {
                "textDocument": {"uri": "file:///warm-up.py"},
                "range": rng(0, 0, 14),
                "method": "discretized_integrated_gradients",
                "target": {"kind": "generate", "maxNewTokens": 1},
                "options": {"nSteps": 2},
            },
        )
        status = await ask("status", "tokenlight/status", {})
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
        return {"warm": warm, "dig": dig, "status": status}

    out = asyncio.run(asyncio.wait_for(scenario(), 600))
    after = snapshot(root, cache)
    report = "\n".join(f"  {what}: {answer}" for what, answer in answers)

    assert out["status"] is not None and out["dig"] is not None, report  # the daemon stayed up throughout
    assert sum(1 for _, answer in answers if answer == "ok") >= 10, report  # real work was done, not only refusals
    written = changes(out["warm"], after)
    assert written == [], "written outside the cache folder:\n" + "\n".join(written) + f"\nafter:\n{report}"
    assert not Path(outside).exists()
    # during the warm-up, libraries may leave scratch folders in TMPDIR (torch makes an empty
    # torchinductor_<user> when transformers imports it); never anything in HOME, the working
    # directory, the watched folders or the model folder that was loaded
    for line in changes(before, out["warm"]):
        assert str(tmpdir) in line, f"the warm-up wrote outside TMPDIR: {line}"

    # and what is in the cache folder is what the cache and the kNN cache write, nothing else
    files = [p for p in cache.rglob("*") if p.is_file() or p.is_symlink()]
    assert files, "the cache folder was used"
    for path in files:
        relative = path.relative_to(cache).as_posix()
        assert not path.is_symlink() and path.resolve().is_relative_to(cache.resolve()), relative
        assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{64}\.msgpack|knn/[0-9a-f]{32}-k\d+\.msgpack", relative), relative
    assert any(p.parent.name == "knn" for p in files), "Discretized IG's kNN graph went into the cache folder"
