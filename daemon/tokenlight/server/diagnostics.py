"""Warnings over the selection: a method whose scores do not add up (large convergence delta), and a
method that is unreliable on this architecture (DeepLift through GELU / LayerNorm / softmax).

Completeness says a path method's scores sum to f(x) − f(x′); the delta is how far off they are.
Above 5% the colours are not to be trusted, and the fix (more steps) is the user's to make, so it is
said where they look: on the selection, as a diagnostic.
"""

from __future__ import annotations

from lsprotocol import types

from ..engine.options import DELTA_TOLERANCE, samples_to_meet
from . import markdown as md
from .documents import StoredResult
from .positions import TextIndex
from .protocol import DIAGNOSTIC_SOURCE
from .results import ResultData


def convergence_message(result: StoredResult) -> str | None:
    """The warning's text ("Integrated Gradients did not converge for 3 of 8 targets: ..."), or None."""
    data = result.data
    # which targets did not converge is the engine's call (ResultData.converged); only path methods,
    # whose delta is measured against f(x) − f(x′), get this warning (LRP's note explains its delta)
    if data.deltas is None or data.baseline_scores is None or data.converged is None:
        return None
    bad = []
    for t, ok in enumerate(data.converged):
        if not ok:
            change = data.target_scores[t] - data.baseline_scores[t]
            bad.append((abs(data.deltas[t]), data.deltas[t], change))
    if not bad:
        return None
    _, delta, change = max(bad)
    largest = f"largest delta {md.number(delta)} ({md.percent(delta, change)} of f(x) − f(x′))"
    if data.budget == "samples" and data.n_steps is not None:
        # not a failure to converge: a sampled estimate, complete only in expectation
        share = abs(delta) / abs(change) if change else 1.0
        needed = samples_to_meet(data.n_steps, share, DELTA_TOLERANCE)
        return (
            f"{data.method_label}: sampling error for {len(bad)} of {len(data.deltas)} targets, {largest} with "
            f"{data.n_steps} samples. It shrinks as 1/√nSamples: about {needed} samples would bring it within "
            f"{DELTA_TOLERANCE:.0%} (option nSamples; --n-samples on the command line)."
        )
    return (
        f"{data.method_label} did not converge for {len(bad)} of {len(data.deltas)} targets: {largest}. {_advice(data)}"
    )


def _advice(data: ResultData) -> str:
    """What the user can change: more path points, or (fixed rules) another method."""
    if data.n_steps is None:
        return "This method has no steps to raise; prefer Integrated Gradients or occlusion on this model."
    return f"Raise nSteps (now {data.n_steps})."


def diagnostics(results: list[StoredResult], index: TextIndex) -> list[types.Diagnostic]:
    out: list[types.Diagnostic] = []
    for result in results:
        problems = [("reliability", warning) for warning in result.data.warnings]
        message = convergence_message(result)
        if message is not None:
            problems.append(("convergence", message))
        out.extend(
            types.Diagnostic(
                range=index.range(result.anchor.start, result.anchor.prompt_end),
                message=text,
                severity=types.DiagnosticSeverity.Warning,
                source=DIAGNOSTIC_SOURCE,
                code=code,
                data={"resultId": result.id},
            )
            for code, text in problems
        )
    return out
