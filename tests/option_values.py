"""A value of an option that is not its default, for tests that hold every option of a group to a
rule (execution options never change a result): derived from the option's own declaration, so an
option added later is covered, and an option of a new kind fails loudly until it is given one."""

from __future__ import annotations

from tokenlight.engine.options import Option


def non_default_value(option: Option) -> object:
    """The flag flipped, or a number at its declared minimum (the far end from "what fits"); an
    option whose minimum is its default, or of another kind, is an error naming it."""
    if option.kind is bool:
        return not option.default
    if option.kind is int and option.minimum is not None and option.minimum != option.default:
        return int(option.minimum)
    raise AssertionError(f"give option_values.non_default_value a value for {option.name} ({option.kind.__name__})")
