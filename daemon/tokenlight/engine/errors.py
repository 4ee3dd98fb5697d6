"""Errors a person can act on.

Every error the engine raises on bad input is a :class:`TokenlightError` whose message says what
was wrong and what to do instead. The CLI prints it as one line; the language server returns it as
a JSON-RPC error. Anything else escaping the engine is a bug.
"""

from __future__ import annotations


class TokenlightError(Exception):
    """Bad input or an unusable model: the message is meant for the user."""


class ModelNotFoundError(TokenlightError):
    """No model at the name or path the user gave."""


class UnsupportedModelError(TokenlightError):
    """The model exists but is neither a causal LM nor a sequence classifier."""


class InputError(TokenlightError):
    """A prompt, option or target the engine cannot attribute as given."""


class UnknownMethodError(InputError):
    """A method id that is not registered; ``valid`` lists the registered ones."""

    def __init__(self, method_id: str, valid: list[str]) -> None:
        super().__init__(f"unknown method {method_id!r}; choose one of: {', '.join(valid)}")
        self.valid = valid


class AttributionCancelled(TokenlightError):
    """The caller asked to stop; raised between chunks, after memory is released."""
