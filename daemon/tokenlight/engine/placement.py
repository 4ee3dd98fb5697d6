"""Where a module runs, and reading its weights, also under accelerate's dispatch (``device_map``).

accelerate moves a dispatched module's inputs to its execution device and, for CPU/disk offload,
keeps the weights off the module (on the ``meta`` device) until a hook loads them for the forward.
Code that reads weights directly (the per-target LM head rows) or places tensors by a parameter's
device must go through the same hooks, or it reads a meta tensor or the wrong device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


def execution_device(module: torch.nn.Module) -> torch.device:
    """The device ``module``'s forward computes on: its accelerate hook's, else its first parameter's."""
    hook = getattr(module, "_hf_hook", None)
    for candidate in [hook, *getattr(hook, "hooks", ())]:
        device = getattr(candidate, "execution_device", None)
        if device is not None:
            return torch.device(device) if not isinstance(device, int) else torch.device("cuda", device)
    for param in module.parameters():
        if param.device.type != "meta":
            return param.device
    return torch.device("cpu")


def input_device(model: Any) -> torch.device:
    """Where a model's inputs (token ids) go: its input embedding's execution device."""
    return execution_device(model.get_input_embeddings())


@contextlib.contextmanager
def loaded(module: torch.nn.Module, device: torch.device) -> Iterator[None]:
    """Inside: ``module``'s own weights are loaded as for its forward (no-op without accelerate).
    Tensors read from them inside must be copied (indexing does) before the block ends."""
    hook = getattr(module, "_hf_hook", None)
    if hook is None:
        yield
        return
    hook.pre_forward(module, torch.empty(0, device=device))
    try:
        yield
    finally:
        hook.post_forward(module, None)
