"""The daemon's errors name what applies to an editor or LSP client: the daemon never downloads, so
a model missing from the Hugging Face cache names the model setting, not a command-line flag."""

from __future__ import annotations

import pytest
from pygls.exceptions import JsonRpcException

REQUEST_FAILED = -32803


def test_missing_hub_model_names_the_daemons_remedy(daemon):
    with pytest.raises(JsonRpcException) as info:
        daemon.call("tokenlight/loadModel", {"model": "someone/missing-model"})
    err = info.value
    assert err.code == REQUEST_FAILED and err.data == {"kind": "ModelNotFoundError"}
    assert "hf download someone/missing-model" in err.message
    assert "tokenlight.model" in err.message and "the daemon never downloads" in err.message
    assert "--allow-download" not in err.message and "allowDownload" not in err.message
    assert daemon.call("tokenlight/status", {})["settings"]["model"] is None  # the default stays
