"""Causal truncation: attribute groups of targets on their own prefixes.

Target t (predicted at position S−1+t) depends only on positions ≤ S−1+t. One forward over the whole
sequence serves every target, but then each of the T backward passes runs over all S+T−1 positions.
Splitting the targets into contiguous groups [a, b), each on the prefix that ends at its last
target (S+b−1 positions), shortens the backward passes at the price of one more forward per group.

We pick the split by dynamic programming over a cost model in units of "one position through the
model, forward": a group costs (S+b−1)·(1 + β·(b−a)) + γ, with β ≈ 2 (a backward pass costs about
two forwards) and γ a fixed per-pass overhead. With a long prompt and few targets the plan is one
group (no change); with many targets relative to the prompt it splits. Any split gives identical
results: each target's value and gradient are the same on the full sequence and on its prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .kernel import Hooks

BACKWARD_COST = 2.0
PASS_OVERHEAD = 6.0
# streaming: no group holds more than a quarter of the targets, and the first at most an eighth, so
# the first partial result comes after about an eighth of the work (its prefix is also the
# shortest). With the first group capped at a quarter only, it came at 29% of the whole at T = 16
# (the problem's set-up comes first); benchmarks/bench_streaming.py measures both caps' arrival and
# the cost of the extra forward.
STREAM_PARTS = 4
STREAM_FIRST_PARTS = 8


def stream_group_size(n_targets: int) -> int:
    return max(1, -(-n_targets // STREAM_PARTS))


def stream_first_group_size(n_targets: int) -> int:
    return max(1, n_targets // STREAM_FIRST_PARTS)


def plan_target_groups(
    n_sources: int,
    n_targets: int,
    *,
    backward_cost: float = BACKWARD_COST,
    overhead: float = PASS_OVERHEAD,
    max_size: int | None = None,
    first_size: int | None = None,
) -> list[tuple[int, int]]:
    """Contiguous groups ``[(a, b), ...]`` covering ``range(n_targets)`` with the least modelled cost,
    none larger than ``max_size`` and the first no larger than ``first_size`` when given (streaming:
    a group's targets are sent when it ends)."""
    if n_targets <= 1:
        return [(0, n_targets)]
    best = [0.0] + [float("inf")] * n_targets
    cut = [0] * (n_targets + 1)
    for b in range(1, n_targets + 1):
        prefix = n_sources + b - 1
        for a in range(0 if max_size is None else max(0, b - max_size), b):
            if a == 0 and first_size is not None and b > first_size:
                continue
            cost = best[a] + prefix * (1.0 + backward_cost * (b - a)) + overhead
            if cost < best[b]:
                best[b], cut[b] = cost, a
    groups = []
    b = n_targets
    while b > 0:
        groups.append((cut[b], b))
        b = cut[b]
    return groups[::-1]


@dataclass
class GroupHooks(Hooks):
    """Progress of one group, reported as progress over all targets ("target k of T")."""

    parent: Hooks | None = None
    offset: int = 0
    group_size: int = 1
    total_targets: int = 1

    def check(self) -> None:
        if self.parent is not None:
            self.parent.check()

    def report(self, done: int, total: int, message: str) -> None:
        if self.parent is None:
            return
        overall = self.offset + self.group_size * done / max(total, 1)
        self.parent.report(round(overall * 100), self.total_targets * 100, self.relabel(message))

    def relabel(self, message: str) -> str:
        # the kernel counts targets within the group: "target k of n" -> global numbering
        prefix = "target "
        if message.startswith(prefix) and " of " in message:
            local = int(message[len(prefix) :].split(" of ", 1)[0])
            return f"target {self.offset + local} of {self.total_targets}"
        return message


def group_hooks(parent: Hooks, groups: list[tuple[int, int]], n_targets: int) -> Callable[[int, int], Hooks]:
    """Hooks for group [a, b): the parent's own when there is one group (nothing to translate)."""
    if len(groups) == 1:
        return lambda a, b: parent
    return lambda a, b: GroupHooks(parent=parent, offset=a, group_size=b - a, total_targets=n_targets)
