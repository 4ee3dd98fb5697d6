"""Layer-wise relevance propagation rules for transformer blocks, as modified gradients.

LRP (Bach et al. 2015) moves the output's relevance back layer by layer so that each layer's inputs
share what its outputs held. For every rule used here the relevance of a tensor h equals h ⊙ γ where
γ is a *modified* gradient (Ancona et al. 2018; the "efficient" formulation of Achtibat et al. 2024),
so one ordinary backward pass through a model whose backward is patched yields the relevance of the
input embeddings as ⟨x, γ⟩ — the batched kernel then serves all targets like Input × Gradient.

The rules, each checked numerically in tests/engine/test_lrp.py:

* linear maps (projections, residual sums, the LM head): the plain gradient. This is LRP-0 (the
  ε-rule with ε → 0); biases keep the share of relevance they carry ("absorb" it).
* element-wise activations (GELU, SiLU): the *identity rule*, relevance passes through unchanged:
  γ_in = γ_out · act(x)/x. Needs act(0) = 0, which is checked.
* LayerNorm / RMSNorm: the normalising scale is held constant (Ali et al. 2022, "XAI for
  Transformers: Better Explanations through Conservative Propagation", the LN-rule). Centring is
  linear and keeps its plain gradient.
* attention and gated MLPs, the one place the two variants differ:
  - ``lrp`` (Ali et al. 2022's AH-rule, CP-LRP): attention weights are held constant, so relevance
    flows through the values only; likewise the SwiGLU gate act(gate(x)) is held constant and
    relevance flows through up(x). The whole network is then linear in (input, biases) with the held
    quantities frozen, hence relevance is conserved exactly: Σ R(tokens) + Σ R(biases) = f(x).
  - ``attnlrp`` (Achtibat et al. 2024, "AttnLRP: Attention-Aware Layer-wise Relevance Propagation
    for Transformers", ICML): the *uniform rule* for the products q·kᵀ, A·V and act(gate)·up (each
    factor gets half: γ_a = ½ γ ∂z/∂a), and for the softmax the plain Jacobian, which makes its input
    relevance xᵢ(Rᵢ − sᵢ Σⱼ Rⱼ) (their Proposition 3.1). Relevance now also reaches tokens through
    *where* attention looks; the softmax absorbs part of it (its linearisation's bias term).

Supported: GPT-2 (learned absolute positions, LayerNorm, GELU) and Llama-style blocks (RMSNorm,
SwiGLU, rotary positions, grouped-query attention): Llama, Mistral (sliding windows live in the
mask), Qwen2 (q/k/v biases) and Qwen3 (RMSNorm on queries and keys, held like any norm). Anything
else is refused by name: these rules are only correct for operations we have matched to them, and
silent garbage is worse than an error.

Why our own rules rather than a library: captum's LRP has rules for Linear/Conv/ReLU modules only
and refuses LayerNorm and attention; LXT (the AttnLRP authors' library) rewrites transformers'
modelling files per version and its licence limits use to personal and scientific purposes. The
rules are a few autograd functions; the patch below is undone on exit, leaving the model as it was.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from ..errors import InputError

LRP = "lrp"
ATTNLRP = "attnlrp"
VARIANTS = (LRP, ATTNLRP)
SUPPORTED_ARCHITECTURES = {"gpt2": "GPT-2", "llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2", "qwen3": "Qwen3"}
_GATED_MLP_PARTS = ("gate_proj", "up_proj", "down_proj", "act_fn")


# ------------------------------------------------------------------------------------------------
# rules as autograd functions
class _IdentityRule(torch.autograd.Function):
    """y = act(x) forward; γ_x = γ_y · y/x backward, so x·γ_x = y·γ_y (relevance unchanged)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, act: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        y = act(x)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, y = ctx.saved_tensors
        ratio = torch.where(x == 0, torch.zeros_like(y), y / torch.where(x == 0, torch.ones_like(x), x))
        return grad * ratio, None


class _UniformProduct(torch.autograd.Function):
    """a ⊙ b forward; each factor gets half the relevance: γ_a = ½ γ b, γ_b = ½ γ a."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        return (0.5 * grad * b).sum_to_size(a.shape), (0.5 * grad * a).sum_to_size(b.shape)


class _UniformMatmul(torch.autograd.Function):
    """a @ b forward; half the plain gradient to each factor. a @ b is homogeneous of degree 2 in
    (a, b), so the two halves' relevance adds up to exactly the output's."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        return 0.5 * (grad @ b.transpose(-1, -2)), 0.5 * (a.transpose(-1, -2) @ grad)


Activation = Callable[[torch.Tensor], torch.Tensor]


def _apply(function: type[torch.autograd.Function], *args: Any) -> torch.Tensor:
    # torch declares the classmethod Function.apply without annotations
    out: torch.Tensor = function.apply(*args)  # type: ignore[no-untyped-call]
    return out


def identity_rule(x: torch.Tensor, act: Activation) -> torch.Tensor:
    return _apply(_IdentityRule, x, act)


def uniform_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _apply(_UniformProduct, a, b)


def uniform_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _apply(_UniformMatmul, a, b)


def attention_softmax(scores: torch.Tensor) -> torch.Tensor:
    """The attention softmax (in float32, as the models do). Its plain gradient is AttnLRP's softmax
    rule; a module-level function so that tests can measure the relevance it absorbs."""
    return torch.softmax(scores, dim=-1, dtype=torch.float32)


# ------------------------------------------------------------------------------------------------
# attention, registered with transformers' attention interface under our own names
def _repeat_kv(states: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Grouped-query attention: each key/value head serves n_rep query heads (a copy: linear)."""
    if n_rep == 1:
        return states
    batch, heads, length, dim = states.shape
    return states[:, :, None].expand(batch, heads, n_rep, length, dim).reshape(batch, heads * n_rep, length, dim)


def _attention(variant: str) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    def attend(
        module: torch.nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        scaling: float | None = None,
        dropout: float = 0.0,
        **_: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_rep = int(getattr(module, "num_key_value_groups", 1) or 1)
        key, value = _repeat_kv(key, n_rep), _repeat_kv(value, n_rep)
        scale = query.shape[-1] ** -0.5 if scaling is None else scaling
        if variant == ATTNLRP:
            scores = uniform_matmul(query, key.transpose(-1, -2)) * scale
        else:
            scores = (query @ key.transpose(-1, -2)) * scale
        if attention_mask is not None:
            scores = scores + attention_mask[..., : key.shape[-2]]
        weights = attention_softmax(scores).to(value.dtype)
        if variant == ATTNLRP:
            output = uniform_matmul(weights, value)
        else:  # CP-LRP: the weights route relevance to the values and receive none themselves
            weights = weights.detach()
            output = weights @ value
        return output.transpose(1, 2).contiguous(), weights

    return attend


def _implementation_name(variant: str) -> str:
    return f"tokenlight_{variant}"


for _variant in VARIANTS:
    AttentionInterface.register(_implementation_name(_variant), _attention(_variant))
    # the additive 0/−inf causal mask eager attention uses (transformers builds no mask for unknown names)
    AttentionMaskInterface.register(_implementation_name(_variant), eager_mask)


# ------------------------------------------------------------------------------------------------
# module forwards with the rules, installed on instances for the duration of an attribution
def _layer_norm(self: torch.nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(-1, keepdim=True)
    scale = torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + self.eps).detach()  # the LN-rule
    y = centred / scale
    if self.weight is not None:
        y = y * self.weight
    if self.bias is not None:
        y = y + self.bias
    return y


# What each patched forward reads from the Hugging Face block it replaces the forward of (nn.Module's
# own typing makes every submodule `Tensor | Module`).
class _RMSNorm(Protocol):
    weight: torch.Tensor
    variance_epsilon: float


class _GPT2MLP(Protocol):
    c_fc: Activation
    c_proj: Activation
    act: Activation
    dropout: Activation


class _GatedMLP(Protocol):
    gate_proj: Activation
    up_proj: Activation
    down_proj: Activation
    act_fn: Activation


def _rms_norm(self: _RMSNorm, x: torch.Tensor) -> torch.Tensor:
    dtype = x.dtype
    x32 = x.to(torch.float32)
    inverse = torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.variance_epsilon).detach()
    return self.weight * (x32 * inverse).to(dtype)


def _gpt2_mlp(self: _GPT2MLP, hidden: torch.Tensor) -> torch.Tensor:
    return self.dropout(self.c_proj(identity_rule(self.c_fc(hidden), self.act)))


def _gated_mlp_attnlrp(self: _GatedMLP, x: torch.Tensor) -> torch.Tensor:
    return self.down_proj(uniform_product(identity_rule(self.gate_proj(x), self.act_fn), self.up_proj(x)))


def _gated_mlp_lrp(self: _GatedMLP, x: torch.Tensor) -> torch.Tensor:
    return self.down_proj(self.act_fn(self.gate_proj(x)).detach() * self.up_proj(x))


def architecture_of(model: Any) -> str:
    return str(getattr(getattr(model, "config", None), "model_type", None) or type(model).__name__)


def check_supported(model: Any, label: str) -> None:
    """An informative error for anything these rules are not written for."""
    names = ", ".join(f"{name} ({key})" for key, name in SUPPORTED_ARCHITECTURES.items())
    if model is None:
        raise InputError(f"{label} needs the model itself, not only a function of its embeddings")
    arch = architecture_of(model)
    if arch not in SUPPORTED_ARCHITECTURES:
        raise InputError(
            f"{label} has propagation rules for {names} blocks only; this model is {arch!r}, for which "
            "they would give silent garbage. Use integrated_gradients or occlusion for this model."
        )


def _activation_of(mlp: torch.nn.Module) -> Activation:
    act: Activation | None = getattr(mlp, "act", None) or getattr(mlp, "act_fn", None)
    if act is None:
        raise InputError(f"LRP cannot find the activation of {type(mlp).__name__}")
    probe = torch.zeros(1, dtype=torch.float32)
    if float(act(probe)) != 0.0:
        raise InputError(
            f"LRP's identity rule needs an activation with act(0) = 0 (GELU, SiLU); this model uses {act!r}"
        )
    return act


def _patched_forwards(model: Any, variant: str) -> list[tuple[torch.nn.Module, Callable[..., torch.Tensor]]]:
    arch = architecture_of(model)
    patches: list[tuple[torch.nn.Module, Callable[..., torch.Tensor]]] = []
    n_mlps = 0
    for module in model.modules():
        name = type(module).__name__
        if isinstance(module, torch.nn.LayerNorm):
            patches.append((module, _layer_norm))
        elif name.endswith("RMSNorm") and hasattr(module, "variance_epsilon"):
            patches.append((module, _rms_norm))
        elif arch == "gpt2" and name == "GPT2MLP":
            _activation_of(module)
            patches.append((module, _gpt2_mlp))
            n_mlps += 1
        elif arch != "gpt2" and name.endswith("MLP") and all(hasattr(module, p) for p in _GATED_MLP_PARTS):
            _activation_of(module)
            patches.append((module, _gated_mlp_attnlrp if variant == ATTNLRP else _gated_mlp_lrp))
            n_mlps += 1
    n_layers = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    if n_mlps != n_layers:  # a variant whose blocks we do not recognise: refuse rather than guess
        raise InputError(
            f"LRP found {n_mlps} feed-forward blocks it has rules for in a {n_layers}-layer {arch!r} model; "
            "this variant of the architecture is not supported. Use integrated_gradients or occlusion."
        )
    return patches


@contextlib.contextmanager
def relevance_rules(model: Any, variant: str, label: str = "LRP") -> Iterator[None]:
    """Within the block, ``model``'s backward computes LRP (``variant`` = ``lrp`` or ``attnlrp``)
    relevance as a modified gradient; its forward values are unchanged. Undone on exit."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown LRP variant {variant!r}")
    check_supported(model, label)
    patches = _patched_forwards(model, variant)
    config = model.config
    previous = config._attn_implementation
    try:
        for module, forward in patches:
            module.forward = types.MethodType(forward, module)  # an instance attribute shadows the class's
        config._attn_implementation = _implementation_name(variant)
        yield
    finally:
        config._attn_implementation = previous
        for module, _ in patches:
            module.__dict__.pop("forward", None)


def input_layer(model: Any, inputs: torch.Tensor) -> torch.Tensor:
    """What the first block sees at each position: the token embedding, plus for GPT-2 the learned
    position embedding. Relevance is read here, so a position's share goes to its token rather
    than being absorbed (the token *at* that position is what the input vector stands for)."""
    if architecture_of(model) == "gpt2":
        wpe: torch.Tensor = model.base_model.wpe.weight
        return inputs + wpe[: inputs.shape[-2]].to(inputs.dtype)
    return inputs
