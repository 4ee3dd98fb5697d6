"""The option spec is the one source of every option: each surface derives from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from tokenlight import codegen
from tokenlight.cli import build_parser, main
from tokenlight.engine import attribute
from tokenlight.engine.errors import InputError
from tokenlight.engine.methods import (
    AttributionMethod,
    AttributionProblem,
    MethodOutput,
    list_methods,
    register_method,
    unregister_method,
)
from tokenlight.engine.options import Option, get_option, list_options, register_option, resolve, unregister_option
from tokenlight.server.protocol import parse_options

ROOT = Path(__file__).resolve().parents[2]


def test_every_generated_file_is_fresh():
    stale = codegen.stale()
    assert not stale, f"stale generated files: {sorted(map(str, stale))}; run: python -m tokenlight.codegen"


@pytest.fixture
def throwaway():
    """A method and an option that exist only for this test: registered at run time, no file touched."""
    option = register_option(
        Option("throwaway_knob", int, "How far to turn the throwaway knob.", default=2, minimum=1, maximum=9)
    )
    seen: list[int] = []

    @register_method
    class Throwaway(AttributionMethod):
        id = "throwaway_method"
        label = "Throwaway"
        summary = "A method that exists only in a test."
        description = "Scores every token with the knob's value."
        family = "gradient"
        parameters = ("throwaway_knob",)

        def _attribute(self, problem: AttributionProblem) -> MethodOutput:
            seen.append(problem.options["throwaway_knob"])
            length = problem.inputs.shape[0]
            return MethodOutput(torch.full((problem.n_targets, length), float(seen[-1]), dtype=torch.float64))

    yield option, seen
    unregister_method("throwaway_method")
    unregister_option(option.name)


def test_a_method_and_option_added_at_run_time_reach_every_surface(throwaway, lm, capsys):
    _, seen = throwaway
    # the CLI: a flag with the spec's help and range
    help_text = build_parser()._subparsers._group_actions[0].choices["attribute"].format_help()
    assert "--throwaway-knob" in help_text and "How far to turn the throwaway knob." in help_text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["attribute", "x", "--throwaway-knob", "10"])
    assert "--throwaway-knob must be between 1 and 9 (got 10)" in capsys.readouterr().err
    # the language server's parser: the wire name, checked the same way
    assert parse_options({"throwawayKnob": 3}) == {"throwaway_knob": 3}
    with pytest.raises(Exception, match=r"options\.throwawayKnob must be between 1 and 9"):
        parse_options({"throwawayKnob": 0})
    # `tokenlight methods --format json`: the method, naming its option
    assert main(["methods", "--format", "json"]) == 0
    listed = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["throwaway_method"]["parameters"] == ["throwaway_knob"]
    # the generated TypeScript and docs pick it up
    assert "throwawayKnob?: number;" in codegen.typescript()
    assert "`throwawayKnob`" in codegen.protocol_options_table()
    # the engine: the default, then a given value, reach the method and the result's record
    res = attribute(lm, "x", target_text=" y", method="throwaway_method")
    assert seen == [2] and res.options["throwaway_knob"] == 2
    res = attribute(lm, "x", target_text=" y", method="throwaway_method", throwaway_knob=7)
    assert seen[-1] == 7 and res.options["throwaway_knob"] == 7 and float(res.scores[0, 0]) == 7.0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("n_steps", 0, "n_steps must be between 1 and 4096 (got 0)"),
        ("n_steps", 2.5, "n_steps must be a whole number (got 2.5)"),
        ("n_steps", True, "n_steps must be a whole number (got True)"),
        ("tolerance", 1.0, "tolerance must be between 0 and 1, exclusive (got 1.0)"),
        ("tolerance", float("nan"), "tolerance must be a number (got nan)"),
        ("temperature", 0.0, "temperature must be above 0 (got 0.0)"),
        ("top_p", 0.0, "top_p must be above 0 and at most 1 (got 0.0)"),
        ("fraction", 1.5, "fraction must be above 0 and at most 1 (got 1.5)"),
        ("seed", -1, "seed must be at least 0 (got -1)"),
        ("integration", "simpson", "unknown integration 'simpson'; choose one of: auto, gausslegendre"),
        ("baseline", 3, "baseline must be a string (got 3)"),
        ("sample", "yes", "sample must be true or false (got 'yes')"),
    ],
)
def test_a_bad_value_says_what_is_accepted(name, value, message):
    with pytest.raises(InputError, match=re.escape(message)):
        get_option(name).validate(value)


def test_resolve_fills_defaults_and_rejects_unknown_names():
    resolved = resolve({"n_steps": 5})
    assert resolved["n_steps"] == 5 and resolved["baseline"] == "zero" and resolved["seed"] == 0
    assert set(resolved) == {o.name for o in list_options()}
    with pytest.raises(InputError, match=r"unknown option\(s\) 'n_stpes'; the options are: n_steps, "):
        resolve({"n_stpes": 5})


def test_every_method_parameter_is_a_declared_option():
    declared = {o.name for o in list_options()}
    for method in list_methods():
        assert set(method.parameters) <= declared, (method.id, set(method.parameters) - declared)


def test_readme_documents_every_registered_method():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    methods_table = readme[readme.index("## Methods") :]
    for method in list_methods():
        assert f"| `{method.id}` |" in methods_table, method.id
