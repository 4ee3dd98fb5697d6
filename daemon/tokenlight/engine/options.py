"""Every attribution option, declared once.

An :class:`Option` carries everything the rest of Tokenlight needs to know about one option: its
Python name (``attribute()``'s keyword), its wire name (camelCase, in ``tokenlight/attribute``'s
``options`` and in settings), its type, range or choices, default and help text, and where it is
offered. From the registry below are derived: the CLI flags (``cli.py``), the language server's
parser and its list of known options (``server/protocol.py``), the daemon settings that default an
option (``server/settings.py``), what ``Attribution.options`` records, the option tables in
README.md and docs/protocol.md, and the extension's TypeScript types (``tokenlight.codegen``).
Which methods read an option is not repeated here: each method lists it in ``parameters``.

This module imports neither torch nor numpy: the language server parses requests with it on the
event loop, before the engine is imported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError

# Surfaces an option can be offered on.
PYTHON = "python"  # attribute()'s keyword arguments
CLI = "cli"  # `tokenlight attribute --flag`
LSP = "lsp"  # `tokenlight/attribute` params.options
ALL_SURFACES = frozenset({PYTHON, CLI, LSP})

# Groups, for documentation: what an option changes.
ATTRIBUTION = "attribution"  # what is computed: changes the numbers
GENERATION = "generation"  # how the continuation is generated (CLI and Python; the editor sends targets)
EXECUTION = "execution"  # speed and memory only: never the numbers
EVALUATION = "evaluation"  # figures computed about the result (faithfulness, sanity): never the scores

DEFAULT_METHOD = "integrated_gradients"  # the method a request that names none gets
MAX_STEPS = 4096
MAX_SAMPLES = 100_000
# |delta| within this share of f(x) − f(x′) counts as converged (methods/base.py DELTA_NOTE_SHARE)
DELTA_TOLERANCE = 0.05


def samples_to_meet(n_samples: int, share: float, tolerance: float) -> int:
    """The sample count at which a Monte-Carlo delta now at ``share`` of f(x) − f(x′) (with
    ``n_samples``) is expected to fall to ``tolerance``: sampling error shrinks as 1/√n, so
    n · (share / tolerance)², rounded up to a multiple of 32 and capped at :data:`MAX_SAMPLES`.
    Here (beside the sample bound, no torch) so that the engine's note and the server's diagnostic
    give the same number."""
    if share <= tolerance:
        return n_samples
    needed = n_samples * (share / tolerance) ** 2
    return min(MAX_SAMPLES, 32 * math.ceil(round(needed / 32, 6)))  # round: float noise never adds 32


MAX_NEW_TOKENS = 1024
MAX_RANDOM_ORDERS = 1000
DEFAULT_TOLERANCE = 1e-3

# The choices of options whose values are fixed names. The modules that implement them import these.
INTEGRATION_RULES = ("auto", "gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
AGGREGATIONS = ("token", "word")
DIG_STRATEGIES = ("greedy", "maxcount")
ATTENTION_LAYERS = ("last", "mean")
CONTEXTS = ("selection", "document")
GRANULARITIES = ("token", "word", "line", "block", "symbol", "turn")
ABLATIONS = ("replace", "remove")
DEFAULT_DRILL_DOWN = 3


def wire_name(name: str) -> str:
    """``n_steps`` -> ``nSteps`` (the protocol and settings spell options in camelCase)."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class Option:
    """One option.

    Attributes:
        name: the Python name (``attribute(n_steps=...)``); the CLI flag is ``--n-steps``.
        kind: ``int``, ``float``, ``str`` or ``bool``.
        help: one sentence for ``--help``, the docs tables and the generated TypeScript.
        default: the value when the option is not given. None means "unset": the method's own
            default applies (``default_text`` says which, for the docs).
        choices: the accepted values of a ``str`` option: a tuple, or a function that returns them
            (a registry that lives with the engine, e.g. step functions; it is called only when the
            engine validates or the docs are generated, never while the server parses a request).
        minimum, maximum: bounds of a number, inclusive unless ``exclusive`` names them: "both",
            "minimum" or "maximum" is strict.
        surfaces: where the option is offered (``python``, ``cli``, ``lsp``).
        group: ``attribution`` (changes the numbers), ``generation`` or ``execution`` (speed only).
        setting: the daemon has a ``tokenlight.<wireName>`` setting that defaults it.
        metavar: the CLI's placeholder for the value.
        default_text: how the docs describe the default when ``default`` is None.
    """

    name: str
    kind: type
    help: str
    default: Any = None
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive: str | None = None  # None, "both", "minimum" or "maximum"
    surfaces: frozenset[str] = ALL_SURFACES
    group: str = ATTRIBUTION
    setting: bool = False
    metavar: str | None = None
    default_text: str | None = None

    @property
    def wire(self) -> str:
        return wire_name(self.name)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def choice_list(self) -> tuple[str, ...] | None:
        """The accepted values (calls a registry-backed ``choices``)."""
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def _strict(self, bound: str) -> bool:
        return self.exclusive in ("both", bound)

    def describe_range(self) -> str:
        """``1–4096``, ``> 0 and < 1``, ``> 0 and ≤ 1``, ``≥ 0``, or "" (for messages and docs)."""
        lo, hi = self.minimum, self.maximum
        if lo is None and hi is None:
            return ""
        if lo is not None and hi is not None and self.exclusive is None:
            return f"{_number(lo)}–{_number(hi)}"
        parts = [f"{'>' if self._strict('minimum') else '≥'} {_number(lo)}"] if lo is not None else []
        parts += [f"{'<' if self._strict('maximum') else '≤'} {_number(hi)}"] if hi is not None else []
        return " and ".join(parts)

    def validate(self, value: Any, label: str | None = None, *, registries: bool = True) -> Any:
        """``value`` as this option's type, or an :class:`InputError` that says what is accepted.

        ``label`` names the option as the caller spelled it (``--n-steps``, ``options.nSteps``);
        ``registries=False`` skips choices that come from an engine registry (the server parses
        requests before the engine is imported; the engine checks them again).
        """
        label = label or self.name
        if value is None:
            return None
        value = self._typed(value, label)
        choices = None
        if isinstance(self.choices, tuple) or registries:
            choices = self.choice_list()
        if choices is not None and value not in choices:
            raise InputError(f"unknown {label} {value!r}; choose one of: {', '.join(choices)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not self._in_range(value):
            raise InputError(f"{label} must be {self._range_phrase()} (got {value!r})")
        return value

    # ------------------------------------------------------------------------------------------
    def _typed(self, value: Any, label: str) -> Any:
        kind = self.kind
        if kind is bool:
            if not isinstance(value, bool):
                raise InputError(f"{label} must be true or false (got {value!r})")
            return value
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{label} must be a whole number (got {value!r})")
            return value
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{label} must be a number (got {value!r})")
            return float(value)
        if not isinstance(value, str):
            raise InputError(f"{label} must be a string (got {value!r})")
        return value

    def _in_range(self, value: float) -> bool:
        lo, hi = self.minimum, self.maximum
        above = lo is None or (value > lo if self._strict("minimum") else value >= lo)
        below = hi is None or (value < hi if self._strict("maximum") else value <= hi)
        return above and below

    def _range_phrase(self) -> str:
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            if self.exclusive in (None, "both"):
                return f"between {_number(lo)} and {_number(hi)}" + (", exclusive" if self.exclusive else "")
            return (
                f"above {_number(lo)} and at most {_number(hi)}"
                if self._strict("minimum")
                else (f"at least {_number(lo)} and below {_number(hi)}")
            )
        if self._strict("minimum") and lo is not None:
            return f"above {_number(lo)}"
        if self._strict("maximum") and hi is not None:
            return f"below {_number(hi)}"
        return f"at least {_number(lo)}" if lo is not None else f"at most {_number(hi)}"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) >= 1 else f"{value:g}"


# ----------------------------------------------------------------------------------------------
# the registry

_REGISTRY: dict[str, Option] = {}


def register_option(option: Option, *, overwrite: bool = False) -> Option:
    """Make ``option`` known to every surface it lists (CLI, language server, Python)."""
    if option.name in _REGISTRY and not overwrite:
        raise ValueError(f"option {option.name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[option.name] = option
    return option


def unregister_option(name: str) -> None:
    """Remove an option (tests that register a throwaway one clean up with this)."""
    _REGISTRY.pop(name, None)


def list_options(surface: str | None = None) -> list[Option]:
    """Every option, in declaration order; only those offered on ``surface`` when given."""
    return [o for o in _REGISTRY.values() if surface is None or surface in o.surfaces]


def get_option(name: str) -> Option:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown option {name!r}; the options are: {', '.join(_REGISTRY)}") from None


def by_wire_name(surface: str = LSP) -> dict[str, Option]:
    """``{"nSteps": Option(n_steps), ...}`` for the options offered on ``surface``."""
    return {o.wire: o for o in list_options(surface)}


def resolve(values: Mapping[str, Any], *, surface: str = PYTHON) -> dict[str, Any]:
    """Validate ``values`` (Python names) and fill in every default: the options of one request.

    Unknown names are an error that lists the known ones, so a typo never silently does nothing.
    """
    known = {o.name: o for o in list_options(surface)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(map(repr, unknown))}; the options are: {', '.join(known)}")
    resolved: dict[str, Any] = {}
    for name, option in known.items():
        value = values.get(name)
        # registry-backed choices (step functions) are checked by their registry, with its message
        resolved[name] = option.default if value is None else option.validate(value, registries=False)
    return resolved


def deciding_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The options of one request (:func:`resolve`d) that decide its result: every option but the
    :data:`EXECUTION` ones, which change speed and memory only. The results cache keys on these, so a
    repeat asked with another batch size, memory budget or compilation setting is served the same
    result instead of computing numbers equal to it (the registry-wide invariance tests hold every
    execution option to that)."""
    return {name: value for name, value in resolve(values).items() if _REGISTRY[name].group != EXECUTION}


# ----------------------------------------------------------------------------------------------
# the options


def _step_function_ids() -> list[str]:
    from .step_functions import list_step_functions

    return [s.id for s in list_step_functions()]


for _option in (
    Option(
        "n_steps",
        int,
        "Path points for path methods (Gauss-Legendre). Unset: adaptive for Integrated Gradients, "
        "the method's own count for the others.",
        minimum=1,
        maximum=MAX_STEPS,
        setting=True,
        metavar="N",
        default_text="adaptive",
    ),
    Option(
        "integration",
        str,
        "Quadrature: auto (adaptive, or Gauss-Legendre with nSteps), gausslegendre, or a Riemann rule.",
        default="auto",
        choices=INTEGRATION_RULES,
    ),
    Option(
        "tolerance",
        float,
        "Adaptive Integrated Gradients: add points until every |delta| ≤ tolerance · |f(x) − f(x′)|.",
        default=DEFAULT_TOLERANCE,
        minimum=0,
        maximum=1,
        exclusive="both",
        metavar="X",
    ),
    Option(
        "baseline",
        str,
        "The reference input: zero (embedding), unk, pad, eos, mask, or token:<text>.",
        default="zero",
        setting=True,
        metavar="B",
    ),
    Option(
        "step_function",
        str,
        "What is attributed for each target: its logit, probability, log-probability, the next-token "
        "entropy, a difference against the contrast token / prompt / text, or a registered or module:function one.",
        default="logit",
        choices=_step_function_ids,
        setting=True,
        metavar="F",
    ),
    Option(
        "contrast_token",
        str,
        'The alternative token for logit_diff / probability_diff ("why X rather than this").',
        metavar="T",
    ),
    Option(
        "contrast_prompt",
        str,
        "Contrast against another context: the target under this prompt instead (logit_diff, probability_diff, "
        "kl_divergence).",
        metavar="TEXT",
    ),
    Option(
        "contrast_text",
        str,
        'A multi-token alternative ("why X rather than Y"): contrast token t is aligned with target t, after '
        "contrast tokens < t.",
        metavar="TEXT",
    ),
    Option(
        "layer",
        int,
        "Attribute to the residual stream after this block (0-based, negative from the end): layer "
        "Integrated Gradients and the other methods that support it. Unset: the input embeddings.",
        metavar="K",
        default_text="the input embeddings",
    ),
    Option(
        "per_layer",
        int,
        "Also compute the per-layer view of target K (0-based, negative from the end): its layer Integrated "
        "Gradients at every block's output, a layers × tokens matrix of how its attribution forms through the "
        "depth (whatever the method; decoder-only models).",
        setting=True,
        metavar="K",
        default_text="no per-layer view",
    ),
    Option(
        "max_dist",
        float,
        "Guided IG: how far (in α) the path may stray from IG's straight line; 0 is IG, 1 the unbounded variant.",
        default=0.02,
        minimum=0,
        maximum=1,
        metavar="D",
    ),
    Option(
        "fraction",
        float,
        "Guided IG: the share of features (lowest |gradient| first) moved in each step; Greedy PIG: the share "
        "of tokens fixed per round.",
        default=0.25,
        minimum=0,
        maximum=1,
        exclusive="minimum",
        metavar="F",
    ),
    Option(
        "pgd_bisections",
        int,
        "PGD sensitivity: halvings of the radius's log-scale search range (12 octaves); each halves the "
        "uncertainty, and 10 locate the smallest flipping radius to under 1%.",
        minimum=1,
        maximum=30,
        metavar="N",
        default_text="10",
    ),
    Option(
        "pgd_competitors",
        int,
        "PGD sensitivity: targeted attacks, one towards each of the target's N nearest competitors (a top "
        "target's margin is a minimum over them; one attack can miss a cheaper flip towards another).",
        minimum=1,
        maximum=256,
        metavar="N",
        default_text="8",
    ),
    Option(
        "n_samples",
        int,
        "Samples for the stochastic methods (GradientSHAP, DeepLiftSHAP, KernelSHAP, LIME).",
        minimum=1,
        maximum=MAX_SAMPLES,
        metavar="N",
        default_text="the method's own",
    ),
    Option(
        "seed",
        int,
        "Seeds the stochastic methods (and sampling): the same request gives the same numbers.",
        default=0,
        minimum=0,
        metavar="N",
    ),
    Option(
        "strategy",
        str,
        "Discretized IG: how anchor words are chosen.",
        choices=DIG_STRATEGIES,
        default_text="greedy",
    ),
    Option(
        "layers",
        str,
        "attention, value_zeroing: the last layer, or the mean over all layers (attention: heads are averaged).",
        choices=ATTENTION_LAYERS,
        default_text="last",
    ),
    Option(
        "aggregate",
        str,
        "token, or word: subword scores summed into the tokenizer's words (source tokens only).",
        default="token",
        choices=AGGREGATIONS,
    ),
    Option(
        "context",
        str,
        "selection (the selected text only), or document (from the document start, or from the earliest line "
        "the model's context allows, to the end of the selection).",
        default="selection",
        choices=CONTEXTS,
        setting=True,
    ),
    Option(
        "granularity",
        str,
        "The spans the context is scored in: token, word, line, block (blank-line / indentation blocks) or "
        "symbol (functions, classes, methods; Python's ast or the editor's document symbols, else blocks) or "
        "turn (chat turns, with chat).",
        default="token",
        choices=GRANULARITIES,
        setting=True,
    ),
    Option(
        "chat",
        bool,
        "Apply the model's chat template: the selection as one user message, or with context document the "
        "transcript's turns (lines starting user: / assistant: / system:, or ### User headers); template tokens "
        "are kept and marked template.",
        default=False,
        setting=True,
    ),
    Option(
        "ablation",
        str,
        "Span methods: replace a left-out span's embeddings by the baseline (positions kept), or remove its "
        "text and tokenise the rest of the context again.",
        default="replace",
        choices=ABLATIONS,
    ),
    Option(
        "drill_down",
        int,
        "Span methods: score the tokens inside each target's top K spans (leave one token out); 0 scores spans only.",
        default=DEFAULT_DRILL_DOWN,
        minimum=0,
        metavar="K",
    ),
    Option(
        "internal_batch_size",
        int,
        "Path points (or samples) per forward pass: speed and memory only, never the result.",
        minimum=1,
        group=EXECUTION,
        metavar="N",
        default_text="what fits in memory",
    ),
    Option(
        "group_targets",
        bool,
        "Attribute groups of targets on their own prefixes when the cost model says it saves time; "
        "never changes a result.",
        default=True,
        surfaces=frozenset({PYTHON}),
        group=EXECUTION,
    ),
    Option(
        "memory_budget",
        int,
        "MiB of activations one pass may hold; past it, path points are fewer per pass and, below one "
        "point, layers are recomputed in the backward pass. Speed and memory only, never the result.",
        minimum=1,
        group=EXECUTION,
        metavar="MIB",
        default_text="half the free GPU memory, or 2048 on CPU",
    ),
    Option(
        "compile_layers",
        bool,
        "Run the decoder layers compiled (torch.compile) for the gradient-path methods: the first calls "
        "compile (tens of seconds), later ones run ~1.1× faster; scores within float rounding.",
        default=False,
        group=EXECUTION,
        setting=True,
    ),
    Option(
        "reuse_prefix",
        bool,
        "Perturbation methods compute the unperturbed prefix's keys and values once and reuse them for "
        "every perturbed copy; speed only.",
        default=True,
        surfaces=frozenset({PYTHON}),
        group=EXECUTION,
    ),
    Option(
        "evaluate",
        bool,
        "Measure the result's faithfulness on this prompt: deletion and insertion curves and AUCs, "
        "comprehensiveness and sufficiency, and the same for random orders.",
        default=False,
        group=EVALUATION,
    ),
    Option(
        "random_orders",
        int,
        "With evaluate: the seeded random removal orders per target that the figures are compared with.",
        default=5,
        minimum=0,
        maximum=MAX_RANDOM_ORDERS,
        group=EVALUATION,
        metavar="R",
    ),
    Option(
        "sanity",
        bool,
        "Model-parameter randomisation check: re-run the method with the top layers re-initialised "
        "(seeded) and report the rank correlation with the original.",
        default=False,
        group=EVALUATION,
    ),
    Option(
        "max_new_tokens",
        int,
        "Tokens to generate (greedy unless sampling; stops after EOS, which is kept as a target).",
        default=8,
        minimum=1,
        maximum=MAX_NEW_TOKENS,
        surfaces=frozenset({PYTHON, CLI}),
        group=GENERATION,
        setting=True,
        metavar="N",
    ),
    Option(
        "sample",
        bool,
        "Sample the continuation instead of greedy decoding (seeded with seed).",
        default=False,
        surfaces=frozenset({PYTHON, CLI}),
        group=GENERATION,
    ),
    Option(
        "temperature",
        float,
        "Sampling temperature.",
        default=1.0,
        minimum=0,
        exclusive="minimum",
        surfaces=frozenset({PYTHON, CLI}),
        group=GENERATION,
    ),
    Option(
        "top_k",
        int,
        "Sampling: keep the k most likely tokens.",
        minimum=1,
        surfaces=frozenset({PYTHON, CLI}),
        group=GENERATION,
        metavar="K",
    ),
    Option(
        "top_p",
        float,
        "Sampling: keep the smallest set of tokens whose probability reaches p.",
        minimum=0,
        maximum=1,
        exclusive="minimum",
        surfaces=frozenset({PYTHON, CLI}),
        group=GENERATION,
        metavar="P",
    ),
):
    register_option(_option)
