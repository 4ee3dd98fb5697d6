"""Target values of a causal LM without full-vocabulary logits in the gradient graph.

A causal LM is a body (input embeddings → final hidden states) and an output head (hidden → logits,
a ``[V, d]`` matrix). The gradient of target t only needs:

* for ``logit`` / ``logit_diff``: the head's rows of the target (and contrast) token: a dot product,
  instead of a ``[n, T, V]`` logits tensor whose dense backward costs n·T·V·d per target;
* for the softmax step functions: the full row of logits at target t's own position only.

Each target's value is its own small subgraph on top of the shared body, so a backward pass for
target t never runs through the other targets' head computations. ``benchmarks/bench_profile.py``
times IG this way against the full-logits path (its figures are in ``benchmarks/RESULTS.md``).

Models whose logits are not ``head(body(x))`` (logit soft-capping, scaling, extra norms) are caught
by a numerical check against the model's own forward; they fall back to full logits.

One forward serves every target only if a position's output does not depend on how long the whole
sequence is. Rotary scalings that pick their frequencies from the total length break that:
``dynamic`` (NTK) beyond ``max_position_embeddings``, ``longrope`` beyond its
``original_max_position_embeddings``. For such models the targets whose prefixes fit the limit share
one forward over at most the limit, and every later target runs on exactly its own prefix, so each
target's value is what the model computes on that prefix (:func:`length_limit`).

Perturbation methods (occlusion, LIME, KernelSHAP, span methods) evaluate many copies of the input
that agree with it on a prefix: occluding position i changes nothing before i. They call
``target_fn(batch, unchanged_prefix=k)``: the keys and values of the input's first k positions are
computed once (and extended, never recomputed, as k grows) and reused for every row, so each pass
runs only positions ≥ k. The values are the same as without the reuse up to float rounding
(``tests/engine/test_prefix_reuse.py``); see :class:`PrefixCache` for when it is not used.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch

from .placement import input_device, loaded
from .step_functions import StepFunction

# run(emb [n, P, d], k) -> the outputs [n, k, ...] at the last k positions
Run = Callable[[torch.Tensor, int], torch.Tensor]


class CausalTargets:
    """Builds ``target_fn(emb [n, L, d]) -> list of T tensors [n]`` for one attribution."""

    def __init__(
        self,
        model: Any,
        step: StepFunction,
        target_ids: list[int],
        contrast_id: int | None,
        *,
        reuse_prefix: bool = True,
    ) -> None:
        self.model = model
        self.step = step
        self.n_targets = len(target_ids)
        self.target_ids = torch.tensor(target_ids, device=input_device(model))
        self.contrast_id = contrast_id
        self.split = split_body_and_head(model)
        self.limit = length_limit(model.config)
        self.prefix = (
            PrefixCache(self.split[0] if self.split else model, logits=not self.split) if reuse_prefix else None
        )

    def __call__(self, emb: torch.Tensor, unchanged_prefix: int = 0) -> list[torch.Tensor]:
        """The T target values ``[n]`` at the embeddings ``emb [n, L, d]``.

        ``unchanged_prefix``: the caller's promise that positions < k of every row equal the
        unperturbed input; their keys and values are then computed once and reused (no gradient
        flows through them, so this is only used when no gradient is being recorded)."""
        k = self._reusable(emb, unchanged_prefix)
        cached = self.prefix if k else None

        if self.split is None:  # fallback: the model's own logits at the target positions
            if cached is not None:
                logits = cached.run(emb, k, self.n_targets)
            else:
                logits = self._per_prefix(emb, lambda e, n: causal_logits(self.model, e, n))
            return list(self.step.fn(logits, self.target_ids, self.contrast_id).unbind(1))
        body, head = self.split
        hidden = cached.run(emb, k, self.n_targets) if cached is not None else self._hidden(emb, body)
        return self._from_hidden(hidden, head)

    def _reusable(self, emb: torch.Tensor, unchanged_prefix: int) -> int:
        """How many leading positions can come from the prefix cache (0: none)."""
        length = emb.shape[1]
        if self.prefix is None or not self.prefix.usable or (torch.is_grad_enabled() and emb.requires_grad):
            return 0
        if self.limit is not None and length > self.limit:  # per-prefix forwards (module docstring)
            return 0
        # the target positions are the last T: keep them out of the prefix, so every output comes
        # from the batch's own pass
        return max(0, min(int(unchanged_prefix), length - self.n_targets))

    @torch.no_grad()
    def evaluate_with_probabilities(self, *embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Target values at each ``[L, d]`` embedding (``[len(embeddings), T]``, float64) and the
        model's probability of each target token at the first one (``[T]``), from one forward: the
        engine needs f(x), f(x′) and the probabilities shown in hovers, and a separate forward for
        the probabilities was one of ~20 forward-equivalents of a single-point method."""
        emb = torch.stack(embeddings)
        if self.split is None:
            logits = self._per_prefix(emb, lambda e, k: causal_logits(self.model, e, k))  # [n, T, V]
            values = self.step.fn(logits, self.target_ids, self.contrast_id)
            first = logits[0]
        else:
            body, head = self.split
            hidden = self._hidden(emb, body)
            values = torch.stack(self._from_hidden(hidden, head), dim=1)
            first = head(hidden[0])  # [T, V]: the full head at the target positions of x only
        probabilities = first.float().softmax(-1).gather(1, self.target_ids.view(-1, 1))[:, 0]
        return values.to(torch.float64), probabilities

    def logits_per_target(self, emb: torch.Tensor) -> list[torch.Tensor]:
        """The full logits at each target's predicting position: T tensors ``[n, 1, V]``, from one
        forward (step functions that compare two distributions need all of them)."""
        if self.split is None:
            logits = self._per_prefix(emb, lambda e, k: causal_logits(self.model, e, k))
            return [logits[:, t : t + 1] for t in range(self.n_targets)]
        body, head = self.split
        hidden = self._hidden(emb, body)
        return [head(hidden[:, t : t + 1]) for t in range(self.n_targets)]

    def _hidden(self, emb: torch.Tensor, body: Any) -> torch.Tensor:
        return self._per_prefix(emb, lambda e, k: body(inputs_embeds=e, use_cache=False).last_hidden_state[:, -k:])

    def _per_prefix(self, emb: torch.Tensor, run: Run) -> torch.Tensor:
        """``run(emb[:, :P], k)`` -> the outputs ``[n, k, ...]`` at the last k positions, for all T targets.

        One forward over everything, unless the model's outputs depend on the total length (see the
        module docstring) and the sequence is longer than its limit: then the targets whose prefixes
        fit share one forward over their longest prefix, and each other target gets its own."""
        length = emb.shape[1]
        if self.limit is None or length <= self.limit:
            return run(emb, self.n_targets)
        first = length - self.n_targets  # target t is predicted at position first + t
        shared = max(0, min(self.n_targets, self.limit - first))  # targets whose prefix fits the limit
        parts = [_fresh(self.model, run, emb[:, : first + shared], shared)] if shared else []
        parts += [_fresh(self.model, run, emb[:, : first + t + 1], 1) for t in range(shared, self.n_targets)]
        return torch.cat(parts, dim=1)

    def _from_hidden(self, hidden: torch.Tensor, head: torch.nn.Linear) -> list[torch.Tensor]:
        if not self.step.full_vocabulary:
            return self._from_rows(hidden, head)
        out = []
        for t in range(self.n_targets):
            logits_t = head(hidden[:, t : t + 1])  # [n, 1, V]: this target's position only
            out.append(self.step.fn(logits_t, self.target_ids[t : t + 1], self.contrast_id)[:, 0])
        return out

    def _from_rows(self, hidden: torch.Tensor, head: torch.nn.Linear) -> list[torch.Tensor]:
        """Logit step functions see only the vocabulary columns they gather from."""
        columns = self.target_ids.tolist() + ([] if self.contrast_id is None else [self.contrast_id])
        vocab = sorted(set(columns))
        index = {v: i for i, v in enumerate(vocab)}
        weight, bias = _head_rows(head, vocab, hidden.device)  # [K, d], [K] or None
        sub_ids = torch.tensor([index[v] for v in self.target_ids.tolist()], device=hidden.device)
        sub_contrast = None if self.contrast_id is None else index[self.contrast_id]
        out = []
        for t in range(self.n_targets):
            logits_t = torch.nn.functional.linear(hidden[:, t : t + 1], weight, bias)  # [n, 1, K]
            out.append(self.step.fn(logits_t, sub_ids[t : t + 1], sub_contrast)[:, 0])
        return out


class PrefixCache:
    """The keys and values of the unperturbed input's first positions, for one model body.

    Grown as callers promise longer unchanged prefixes (each position's keys and values computed
    once), checked against the batch's first row on every use (a different input starts it over),
    and shared by every row of a batch. Only plain ``DynamicCache`` layers are reused: a model whose
    cache is anything else (sliding windows, recurrent state, a model without a cache) makes
    :attr:`usable` False after its first try, and its targets run over every position as before.
    """

    def __init__(self, module: Any, *, logits: bool) -> None:
        self.module = module  # a body (outputs hidden states) or, with ``logits``, the whole causal LM
        self.logits = logits
        # a module whose forward takes no cache (a hand-written model) has nothing to reuse
        self.usable = _accepts_cache(module)
        self.inputs: torch.Tensor | None = None  # [k, d]: the prefix the layers were computed from
        self.layers: list[tuple[torch.Tensor, torch.Tensor]] = []  # per layer, keys and values [1, h, k, hd]

    @property
    def length(self) -> int:
        return 0 if self.inputs is None else self.inputs.shape[0]

    @torch.no_grad()
    def run(self, emb: torch.Tensor, k: int, n_out: int) -> torch.Tensor:
        """The module's outputs at the last ``n_out`` positions of ``emb [n, L, d]``, running only
        positions ≥ k (the caller's promise: positions < k of every row equal the cached input)."""
        from transformers import DynamicCache

        self._extend(emb[0, :k])
        if not self.usable:  # found out while extending: run everything
            return self._full(emb, n_out)
        n = emb.shape[0]
        data = [
            (keys[:, :, :k].expand(n, -1, -1, -1), values[:, :, :k].expand(n, -1, -1, -1))
            for keys, values in self.layers
        ]
        cache = DynamicCache(ddp_cache_data=data)
        out = self.module(inputs_embeds=emb[:, k:], past_key_values=cache, use_cache=True, **self._keep(n_out))
        return self._outputs(out, n_out)

    def _extend(self, prefix: torch.Tensor) -> None:
        """Make the cached layers cover ``prefix [k, d]``, computing only positions not yet cached."""
        from transformers import DynamicCache

        k, have = prefix.shape[0], self.length
        overlap = min(k, have)
        if have and not torch.equal(self.inputs[:overlap], prefix[:overlap]):  # type: ignore[index]
            self.inputs, self.layers, have = None, [], 0
        if k <= have:
            return
        past = DynamicCache(ddp_cache_data=self.layers) if self.layers else DynamicCache()
        out = self.module(
            inputs_embeds=prefix[have:].unsqueeze(0), past_key_values=past, use_cache=True, **self._keep(1)
        )
        cache = out.past_key_values
        if not _plain_dynamic(cache):
            self.usable, self.inputs, self.layers = False, None, []
            return
        self.layers = [(layer.keys, layer.values) for layer in cache.layers]
        self.inputs = prefix.detach().clone()

    def _full(self, emb: torch.Tensor, n_out: int) -> torch.Tensor:
        return self._outputs(self.module(inputs_embeds=emb, use_cache=False, **self._keep(n_out)), n_out)

    def _outputs(self, out: Any, n_out: int) -> torch.Tensor:
        result: torch.Tensor = (out.logits if self.logits else out.last_hidden_state)[:, -n_out:]
        return result

    def _keep(self, n_out: int) -> dict[str, Any]:
        # the whole LM: spare its head every position but the ones asked for
        return {"logits_to_keep": n_out} if self.logits else {}


def _plain_dynamic(cache: Any) -> bool:
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return type(cache) is DynamicCache and all(type(layer) is DynamicLayer for layer in cache.layers)


LENGTH_DEPENDENT_ROPE = ("dynamic", "longrope")


def length_limit(config: Any) -> int | None:
    """The longest sequence over which every position computes what it computes on its own prefix,
    for models whose rotary frequencies depend on the total length; None for all others."""
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    per_layer_type = bool(params) and all(isinstance(v, dict) for v in params.values())
    limits = []
    for p in params.values() if per_layer_type else [params]:
        kind = str(p.get("rope_type") or p.get("type") or "")
        if "dynamic" in kind:  # frequencies grow with the length past max_position_embeddings
            limits.append(int(config.max_position_embeddings))
        elif kind == "longrope":  # the long factors replace the short ones past the original length
            original = p.get("original_max_position_embeddings")
            limits.append(int(original or getattr(config, "original_max_position_embeddings", None) or 0))
    return min(limits) if limits else None


def _fresh(model: Any, run: Run, emb: torch.Tensor, k: int) -> torch.Tensor:
    reset_rotary_state(model)
    return run(emb, k)


def reset_rotary_state(model: Any) -> None:
    """Put dynamic-NTK rotary embeddings back to their initial frequencies: transformers keeps the
    frequencies of the longest sequence seen until a call shorter than ``max_position_embeddings``
    resets them, so without this a prefix's value would depend on what ran before it."""
    for module in model.modules():
        kinds = getattr(module, "rope_type", None)
        if not hasattr(module, "original_max_seq_len") or kinds is None:
            continue
        for layer_type, kind in kinds.items() if isinstance(kinds, dict) else [(None, kinds)]:
            if "dynamic" in str(kind):
                anchor = next(iter(module.buffers()))
                extra = {} if layer_type is None else {"layer_type": layer_type}
                position = torch.zeros(1, 1, dtype=torch.long, device=anchor.device)
                module(torch.zeros(1, 1, 1, device=anchor.device), position, **extra)  # length 1: resets


def _head_rows(
    head: torch.nn.Linear, vocab: list[int], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The head's weight and bias rows for ``vocab`` on ``device``, loaded through accelerate's hook
    when the model is dispatched (the weight may be offloaded, or on another GPU), as the head's own
    forward would load them."""
    with loaded(head, device):
        rows = torch.tensor(vocab, device=head.weight.device)
        weight = head.weight[rows].to(device)
        bias = None if head.bias is None else head.bias[rows].to(device)
    return weight, bias


def causal_logits(model: Any, emb: torch.Tensor, n_targets: int) -> torch.Tensor:
    """The model's own logits at the last ``n_targets`` positions: ``[n, T, V]``. ``logits_to_keep``
    spares the LM head the prompt's positions (T_prompt × d × V multiply-adds per point)."""
    logits: torch.Tensor = model(inputs_embeds=emb, logits_to_keep=n_targets, use_cache=False).logits
    return logits[:, -n_targets:]


# weak keys: switching models in a long-lived daemon must not keep the old one alive
_SPLIT_CACHE: weakref.WeakKeyDictionary[Any, tuple[Any, torch.nn.Linear] | None] = weakref.WeakKeyDictionary()


def split_body_and_head(model: Any) -> tuple[Any, torch.nn.Linear] | None:
    """(body, head) when ``model(x).logits == head(body(x).last_hidden_state)``, else None.

    Checked once per model on a short random sequence, to a relative 1e-4.
    """
    if model in _SPLIT_CACHE:
        return _SPLIT_CACHE[model]
    result = None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    body = getattr(model, "base_model", None)
    if isinstance(head, torch.nn.Linear) and body is not None and body is not model:
        generator = torch.Generator().manual_seed(0)
        vocab = head.weight.shape[0]
        probe = torch.randint(0, vocab, (1, 6), generator=generator).to(input_device(model))
        with torch.no_grad():
            try:
                full = model(input_ids=probe, use_cache=False).logits.float()
                split = head(body(input_ids=probe, use_cache=False).last_hidden_state).float()
            except (TypeError, AttributeError, ValueError):
                split = None
        if split is not None and split.shape == full.shape:
            scale = float(full.abs().max()) or 1.0
            if float((full - split).abs().max()) <= 1e-4 * scale:
                result = (body, head)
    _SPLIT_CACHE[model] = result
    return result


def _accepts_cache(module: Any) -> bool:
    """Whether ``module``'s forward takes ``past_key_values`` (by name or through ``**kwargs``)."""
    import inspect

    try:
        parameters = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):  # no introspectable signature: assume the transformers convention
        return True
    return any(p.name == "past_key_values" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
