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


class ModelNotCachedError(ModelNotFoundError):
    """A Hub id that is neither a local folder nor in the Hugging Face cache, with downloads off.

    How to allow a download depends on the caller (a CLI flag, a keyword argument; the daemon has
    none), which the engine does not know: the caller words the end of the message with
    :meth:`advise`. ``str()`` names the Python API's keyword.
    """

    def __init__(self, model_id: str, cache_dir: str) -> None:
        self.model_id, self.cache_dir = model_id, cache_dir
        super().__init__(self.advise("call load_model(..., allow_download=True)"))

    def advise(self, allow: str) -> str:
        """The message, ending with ``allow``: how this caller lets Tokenlight download instead."""
        return (
            f"no model {self.model_id!r}: not a local folder, and not in the Hugging Face cache ({self.cache_dir}); "
            f"download it first (hf download {self.model_id}), or {allow}"
        )


class UnsupportedModelError(TokenlightError):
    """The model exists but is neither a causal LM nor a sequence classifier."""


class InputError(TokenlightError):
    """A prompt, option or target the engine cannot attribute as given."""


class UnknownMethodError(InputError):
    """A method id that is not registered; ``valid`` lists the registered ones."""

    def __init__(self, method_id: str, valid: list[str]) -> None:
        super().__init__(f"unknown method {method_id!r}; choose one of: {', '.join(valid)}")
        self.valid = valid


class ContextLengthError(InputError):
    """The prompt, or the prompt plus its targets, is longer than the model accepts.

    What to shorten depends on where the prompt came from (an editor selection, a command-line
    argument, a range of a file), which the engine does not know: the caller words the remedy with
    :meth:`advise`. ``str()`` uses neutral words.
    """

    def __init__(self, model: str, limit: int, prompt_tokens: int, target_tokens: int) -> None:
        self.model, self.limit = model, limit
        self.prompt_tokens, self.target_tokens = prompt_tokens, target_tokens
        super().__init__(self.advise("shorten the prompt", "ask for fewer target tokens"))

    def advise(self, shorten: str, fewer: str) -> str:
        """The message with this caller's remedies: ``shorten`` (the prompt), ``fewer`` (targets)."""
        if self.target_tokens == 0 or self.prompt_tokens > self.limit:
            return f"the prompt is {self.prompt_tokens:,} tokens; {self.model} accepts {self.limit:,}: {shorten}"
        return (
            f"the prompt ({self.prompt_tokens:,} tokens) plus {self.target_tokens:,} target tokens exceeds "
            f"{self.model}'s context of {self.limit:,} tokens: {shorten} or {fewer}"
        )


class OutOfMemoryAtOnePoint(TokenlightError):
    """Out of memory with one path point (or sample) per pass: the chunk cannot shrink further."""


class AttributionCancelled(TokenlightError):
    """The caller asked to stop; raised between chunks, after memory is released."""
