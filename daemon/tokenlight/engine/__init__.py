"""The attribution engine: models, tokens, targets, baselines, methods, the batched kernel, results.

Imports torch, captum and transformers; never pygls. The names below are imported on first use, so
that the light modules (``options``, ``errors``) can be imported by the language server before
torch is.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_EXPORTS = {
    "EMBEDDED_MODEL_NAME": "..embedded",
    "Attribution": ".result",
    "AttributionCancelled": ".errors",
    "InputError": ".errors",
    "LoadedModel": ".models",
    "ModelInfo": ".result",
    "ModelNotFoundError": ".errors",
    "PartialResult": ".result",
    "Token": ".tokens",
    "TokenlightError": ".errors",
    "UnsupportedModelError": ".errors",
    "attribute": ".attribution",
    "from_objects": ".models",
    "get_method": ".methods",
    "list_methods": ".methods",
    "list_options": ".options",
    "list_step_functions": ".step_functions",
    "load_model": ".models",
}

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "Attribution",
    "AttributionCancelled",
    "InputError",
    "LoadedModel",
    "ModelInfo",
    "ModelNotFoundError",
    "PartialResult",
    "Token",
    "TokenlightError",
    "UnsupportedModelError",
    "attribute",
    "from_objects",
    "get_method",
    "list_methods",
    "list_options",
    "list_step_functions",
    "load_model",
]

if TYPE_CHECKING:
    from ..embedded import EMBEDDED_MODEL_NAME
    from .attribution import attribute
    from .errors import AttributionCancelled, InputError, ModelNotFoundError, TokenlightError, UnsupportedModelError
    from .methods import get_method, list_methods
    from .models import LoadedModel, from_objects, load_model
    from .options import list_options
    from .result import Attribution, ModelInfo, PartialResult
    from .step_functions import list_step_functions
    from .tokens import Token


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'tokenlight.engine' has no attribute {name!r}")
