"""The attribution engine: models, tokens, targets, baselines, methods, the batched kernel, results.

Imports torch, captum and transformers; never pygls.
"""

from .attribute import attribute
from .errors import (
    AttributionCancelled,
    InputError,
    ModelNotFoundError,
    TokenlightError,
    UnsupportedModelError,
)
from .methods import get_method, list_methods
from .models import EMBEDDED_MODEL_NAME, LoadedModel, from_objects, load_model
from .result import Attribution, ModelInfo
from .step_functions import list_step_functions
from .tokens import Token

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "Attribution",
    "AttributionCancelled",
    "InputError",
    "LoadedModel",
    "ModelInfo",
    "ModelNotFoundError",
    "Token",
    "TokenlightError",
    "UnsupportedModelError",
    "attribute",
    "from_objects",
    "get_method",
    "list_methods",
    "list_step_functions",
    "load_model",
]
