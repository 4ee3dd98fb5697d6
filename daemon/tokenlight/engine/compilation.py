"""``torch.compile`` of the decoder layers: an opt-in speed lever for the gradient-path methods.

What compilation can remove is the eager element-wise passes between the matrix products (norms,
activations, the attention's masking and scaling, residual adds): the products run in the same
BLAS or cuBLAS kernels either way. Measured on two CPU cores (benchmarks/RESULTS.md, sections
compile*): 1.16× per steady call at GPT-2-small geometry and 1.12× at llama-300m, nothing on a
2-layer model, against ~28 s of compilation on the first call at any depth and a few seconds (up
to ~15 s on the tiny test models) for the first call at a second prompt length, after which dynamo
marks the length dynamic and compiles no more for new lengths. So it pays only where one process
answers many requests, which is why it is an option (``compile_layers``) and off by default.

Each layer is compiled on its own ("regional" compilation): transformers' layers of one model are
one class, and dynamo guards on the class rather than the instance, so every layer reuses one
graph and compile time does not grow with depth. dynamo's own recompile limit (8) bounds the graphs
kept for the layers' forward, whose code transformers shares between every model's layers: past
it dynamo would run a layer eager without a word while the result said "compiled", so within the
call the limit is made an error, and the call runs eager and says so (below). A released model's
graphs are dropped with it (:meth:`LoadedModel.release`), so the next model starts with the whole
limit.

Only the methods whose passes go plainly through the layers with gradients (``recomputable``, the
same set that may be recomputed under a memory budget) are compiled. The others patch submodules,
hook attention weights or pass a key-value cache, which would make dynamo trace (and guard on)
objects that change from call to call.

The kernel takes several backward passes over one retained graph, which a compiled backward that
donates its saved buffers to the next step refuses: ``donated_buffer`` is switched off for the
duration of the call only, and every layer gets its eager ``forward`` back afterwards.

A compilation that fails (no working C++ compiler for inductor on a CPU, a layer dynamo cannot
trace) is not the user's error: the call runs again eager, the result says why, and the model
remembers the failure so that later calls do not pay for it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch

from .memory import decoder_layers, replaced_forwards

if TYPE_CHECKING:
    from .kernel import Hooks
    from .methods import AttributionMethod, MethodOutput
    from .models import LoadedModel

# what torch.compile lowers the layers' graphs with; a test swaps in a backend that fails
BACKEND: str | Callable[..., Any] = "inductor"


@contextmanager
def compiled_layers(model: torch.nn.Module) -> Iterator[int]:
    """Within the block, every decoder layer of ``model`` runs compiled. Yields how many layers
    were compiled (0: none found, so nothing changes)."""
    from torch._dynamo import config as dynamo_config
    from torch._functorch import config as functorch_config

    with (
        functorch_config.patch(donated_buffer=False),
        # (dynamo refuses the flag together with suppress_errors, which a user may have set)
        dynamo_config.patch(fail_on_recompile_limit_hit=not dynamo_config.suppress_errors),
        replaced_forwards(decoder_layers(model), lambda forward: torch.compile(forward, backend=BACKEND)) as count,
    ):
        yield count


def short_reason(exc: BaseException) -> str:
    """What went wrong, in one line: the backend's own error when dynamo wraps one (its message's
    first line says only which backend raised), without the traceback dynamo appends."""
    inner = getattr(exc, "inner_exception", None) or exc.__cause__ or exc
    lines = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {lines[0] if lines else ''}".rstrip(": ")[:300]


def run_compiled(
    lm: LoadedModel, impl: AttributionMethod, run: Callable[[], MethodOutput], hooks: Hooks
) -> MethodOutput:
    """``run()`` with ``lm``'s decoder layers compiled where ``impl``'s passes allow it, else eager;
    either way the result's notes say which ran, and why not compiled."""
    from torch._dynamo import config as dynamo_config

    # every dynamo and inductor failure derives from TorchDynamoException, but the recompile limit's
    from torch._dynamo.exc import FailOnRecompileLimitHit, TorchDynamoException

    if not impl.recomputable:
        from .methods import list_methods

        able = ", ".join(m.id for m in list_methods() if m.recomputable)
        note = f"compile_layers applies to the gradient-path methods ({able}): {impl.id} ran eager"
    elif lm.compile_failure is not None:
        note = f"compile_layers: torch.compile failed on this model earlier ({lm.compile_failure}); ran eager"
    else:
        # the first call at a new prompt length compiles before its first pass reports anything
        hooks.report(0, 1, "compile_layers: a prompt length not seen before is compiled first (tens of seconds)")
        try:
            with compiled_layers(lm.model) as count:
                out = run()
        except (TorchDynamoException, FailOnRecompileLimitHit) as exc:
            lm.compile_failure = (
                f"dynamo's recompile limit (recompile_limit = {dynamo_config.recompile_limit} graphs of the decoder "
                "layers' forward, which every model in this process shares) was reached"
                if isinstance(exc, FailOnRecompileLimitHit)
                else short_reason(exc)
            )
            note = (
                f"compile_layers: torch.compile failed ({lm.compile_failure}); ran eager, and this model will not be "
                "compiled again in this process"
            )
        else:
            lm.compiled = lm.compiled or count > 0
            out.notes.append(
                f"compile_layers: the {count} decoder layers ran compiled (torch.compile): scores within float "
                "rounding of eager"
                if count
                else "compile_layers: this model has no decoder layers transformers marks as such; ran eager"
            )
            return out
    out = run()
    out.notes.append(note)
    return out
