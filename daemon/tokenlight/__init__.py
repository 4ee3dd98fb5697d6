"""Tokenlight: see which tokens made a language model say what it said.

    from tokenlight import load_model, attribute
    lm = load_model()                      # the embedded tokenlight-tiny-py
    res = attribute(lm, "def add(a, b):", max_new_tokens=8, method="integrated_gradients")

The public API is what this module exports. It is imported lazily, so that ``tokenlight.server``
can answer ``initialize`` before torch and transformers (seconds to import) are.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__ as __version__

__all__ = [
    "Attribution",
    "AttributionCancelled",
    "InputError",
    "LoadedModel",
    "ModelNotFoundError",
    "Token",
    "TokenlightError",
    "UnsupportedModelError",
    "attribute",
    "list_methods",
    "load_model",
]

if TYPE_CHECKING:
    from .engine import (
        Attribution,
        AttributionCancelled,
        InputError,
        LoadedModel,
        ModelNotFoundError,
        Token,
        TokenlightError,
        UnsupportedModelError,
        attribute,
        list_methods,
        load_model,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".engine", __name__), name)
    raise AttributeError(f"module 'tokenlight' has no attribute {name!r}")
