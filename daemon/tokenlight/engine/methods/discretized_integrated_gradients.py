"""Discretized Integrated Gradients (Sanyal & Ren 2021, "Discretized Integrated Gradients for
Explaining Language Models").

IG's straight line from x′ to x runs through embeddings that are no word at all. DIG walks from the
input word towards the baseline through *anchor words*: at each step it looks at the k nearest words
(in embedding space) of the current anchor and picks the next anchor

* ``greedy``: the neighbour closest to its own "monotonized" version, or
* ``maxcount``: the neighbour with the most dimensions already between the baseline and the current
  point,

then makes it monotonic (every dimension that would move away from the baseline is set one step
closer to it instead), so that each dimension moves monotonically from x′ to x along the path. The
path is baseline, anchors, input (nSteps anchors). Attributions accumulate along the path with the
trapezoid rule, ½(∇f(p_k) + ∇f(p_{k+1})) · (p_{k+1} − p_k), and completeness holds up to that
discretisation (the delta).

All positions move together (step k of every token's path forms one point of the sequence), so the
whole path is one batch of points through the batched kernel, with all targets from each forward.
Special tokens (BOS) have no meaningful neighbours: they take the straight line.

The kNN graph of the vocabulary is built once per model (chunked matrix products) and cached on disk
as msgpack in ``knn/`` inside the results cache folder (``$TOKENLIGHT_CACHE_DIR``/knn, else
``~/.cache/tokenlight/results/knn`` on Linux: see :func:`tokenlight.paths.default_cache_dir`); a corrupt
file is rebuilt.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgpack
import numpy as np
import torch

from ...paths import default_cache_dir
from ..errors import InputError
from ..kernel import path_gradient_terms
from ..options import get_option
from ..vocabulary import vocabulary_vectors
from .base import AttributionMethod, AttributionProblem, MethodOutput, register_method
from .gradients import dot_with

DEFAULT_STEPS = 30
NEIGHBOURS = 50
KNN_FORMAT = 1


@register_method
class DiscretizedIntegratedGradients(AttributionMethod):
    id = "discretized_integrated_gradients"
    label = "Discretized Integrated Gradients"
    summary = "Discretized IG: a monotonic path through real word embeddings."
    description = (
        "IG along a path through real word embeddings: each step moves to a nearby word (kNN graph of the "
        "vocabulary, cached on disk) made monotonic towards the baseline; strategy greedy or maxcount. "
        "Complete up to the path's discretisation (the delta). nSteps + 2 points, all targets per forward."
    )
    family = "path"
    recomputable = True
    has_convergence_delta = True
    uses_baseline = True
    parameters = ("n_steps", "strategy", "baseline", "internal_batch_size")

    def _attribute(self, problem: AttributionProblem) -> MethodOutput:
        if problem.model is None or problem.input_ids is None:
            raise InputError("Discretized IG needs a model with an input embedding matrix")
        # the option's one rule, for problems built without attribute(); unset means greedy
        strategy = get_option("strategy").validate(problem.options.get("strategy")) or "greedy"
        n_steps = int(problem.options.get("n_steps") or DEFAULT_STEPS)
        table = vocabulary_vectors(problem.model)  # as the embedding module outputs them, like x
        graph = knn_graph(table, _identity(table), NEIGHBOURS)
        path = joint_path(
            problem.inputs,
            problem.baselines,
            problem.input_ids,
            table,
            graph,
            n_steps,
            strategy,
            set(problem.special_positions),
        )  # [K, L, d], baseline first, input last
        deltas_along = path[1:] - path[:-1]
        zero = torch.zeros_like(path[:1])
        # trapezoid: point k's gradient weighs half the step before it and half the step after it
        direction = 0.5 * (torch.cat([zero, deltas_along]) + torch.cat([deltas_along, zero]))
        terms = path_gradient_terms(
            problem.target_fn,
            problem.inputs,
            path.to(problem.inputs.dtype),
            torch.zeros(path.shape[0], dtype=torch.float64),
            dot_with(direction),
            n_targets=problem.n_targets,
            chunk_size=problem.chunk_size(path.shape[0]),
            hooks=problem.hooks,
        )
        scores = terms.sum(0)
        return MethodOutput(scores, self.convergence_delta(scores, problem), n_steps, uses_baseline=True)


def joint_path(
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    input_ids: torch.Tensor,
    table: torch.Tensor,
    graph: np.ndarray,
    n_steps: int,
    strategy: str,
    special: set[int],
) -> torch.Tensor:
    """Every position's monotonic path, stacked by step: ``[n_steps + 2, L, d]`` (float64)."""
    length = inputs.shape[0]
    out = torch.empty((n_steps + 2, length, inputs.shape[1]), dtype=torch.float64, device=inputs.device)
    for i in range(length):
        if i in special:
            alphas = torch.linspace(0, 1, n_steps + 2, dtype=torch.float64, device=inputs.device).view(-1, 1)
            out[:, i] = baselines[i].double() + alphas * (inputs[i].double() - baselines[i].double())
        else:
            out[:, i] = monotonic_path(int(input_ids[i]), baselines[i].double(), table, graph, n_steps, strategy)
    return out


def monotonic_path(
    word: int, baseline: torch.Tensor, table: torch.Tensor, graph: np.ndarray, n_steps: int, strategy: str
) -> torch.Tensor:
    """Baseline, ``n_steps`` monotonized anchors, input word: ``[n_steps + 2, d]``."""
    embeddings = table.double()
    points = [embeddings[word]]
    visited = {word}
    current = word
    for _ in range(n_steps):
        current = _next_anchor(current, baseline, embeddings, graph, visited, n_steps, strategy)
        if current < 0:  # no usable neighbour left: go straight on towards the baseline
            anchor = points[-1]
        else:
            visited.add(current)
            anchor = embeddings[current]
        points.append(_monotonize(baseline, points[-1], anchor, n_steps))
    points.append(baseline)
    return torch.stack(points[::-1])


def _between(baseline: torch.Tensor, current: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """Dimensions of ``candidate`` that lie between the baseline and the current point (inclusive)."""
    low, high = torch.minimum(baseline, current), torch.maximum(baseline, current)
    return (candidate >= low) & (candidate <= high)


def _monotonize(baseline: torch.Tensor, current: torch.Tensor, anchor: torch.Tensor, n_steps: int) -> torch.Tensor:
    """The anchor, with every dimension that is not between baseline and current set one step
    (1/n_steps of the remaining way) from the current point towards the baseline."""
    step = current - (current - baseline) / n_steps
    return torch.where(_between(baseline, current, anchor), anchor, step)


def _next_anchor(
    current: int,
    baseline: torch.Tensor,
    embeddings: torch.Tensor,
    graph: np.ndarray,
    visited: set[int],
    n_steps: int,
    strategy: str,
) -> int:
    candidates = [int(j) for j in graph[current] if int(j) not in visited]
    if not candidates:
        return -1
    here = embeddings[current]
    vectors = embeddings[candidates]  # [k, d]
    between = _between(baseline.unsqueeze(0), here.unsqueeze(0), vectors)
    if strategy == "maxcount":
        return candidates[int(between.sum(1).argmax())]
    step = here - (here - baseline) / n_steps
    monotonized = torch.where(between, vectors, step.unsqueeze(0))
    return candidates[int((vectors - monotonized).norm(dim=1).argmin())]


def _identity(table: torch.Tensor) -> str:
    """The kNN cache's key: a full digest of the vocabulary vectors as the embedding module outputs
    them (a sample of them missed edits that change the neighbours; about 2 s per GB of table, next
    to the minutes DIG takes at that size)."""
    from ..identity import tensor_digest

    return tensor_digest(table)[:32]


def knn_dir() -> Path:
    """``knn/`` inside the results cache folder ($TOKENLIGHT_CACHE_DIR, else the platform's user cache,
    honouring $XDG_CACHE_HOME): the CLI and the daemon share one folder and write nowhere else."""
    return default_cache_dir() / "knn"


def knn_graph(table: torch.Tensor, identity: str, k: int) -> np.ndarray:
    """``[V, k]`` int32: each word's k nearest other words (Euclidean), from disk when cached."""
    path = knn_dir() / f"{identity}-k{k}.msgpack"
    vocab = table.shape[0]
    try:
        payload = msgpack.unpackb(path.read_bytes(), raw=False)
        if payload.get("format") == KNN_FORMAT and payload.get("shape") == [vocab, k]:
            return np.frombuffer(payload["data"], dtype="<i4").reshape(vocab, k)
    except (OSError, ValueError, TypeError, AttributeError, KeyError, msgpack.UnpackException):
        pass  # missing, truncated, corrupt or foreign: rebuild and replace
    graph = _build_knn(table, min(k, vocab - 1))
    data = msgpack.packb({"format": KNN_FORMAT, "shape": list(graph.shape), "data": graph.astype("<i4").tobytes()})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs a rebuild next time
    return graph


def _build_knn(table: torch.Tensor, k: int, chunk: int = 2048) -> np.ndarray:
    weights = table.float()
    norms = (weights * weights).sum(1)
    out = np.empty((weights.shape[0], k), dtype=np.int32)
    for start in range(0, weights.shape[0], chunk):
        block = weights[start : start + chunk]
        distances = norms[start : start + chunk, None] - 2 * block @ weights.T + norms[None, :]
        rows = torch.arange(block.shape[0])
        distances[rows, rows + start] = float("inf")  # a word is not its own neighbour
        out[start : start + chunk] = distances.topk(k, largest=False).indices.cpu().numpy()
    return out
