"""The continuation as ghost text: one clickable inlay-hint label part per target token.

Only generated and forced (``text``) targets become hints: ``following`` targets are already in the
document. Clicking a part runs the client command ``tokenlight.focusTarget [resultId, index]``,
which the client answers with ``tokenlight/focus``.
"""

from __future__ import annotations

from lsprotocol import types

from . import markdown as md
from .documents import StoredResult
from .positions import TextIndex
from .protocol import FOCUS_TARGET_COMMAND


def inlay_hints(results: list[StoredResult], index: TextIndex, visible: types.Range) -> list[types.InlayHint]:
    hints = []
    first = (visible.start.line, visible.start.character)
    last = (visible.end.line, visible.end.character)
    for result in results:
        if result.following or not result.data.target_tokens:
            continue
        position = index.position(result.anchor.prompt_end)
        if not first <= (position.line, position.character) <= last:
            continue
        hints.append(
            types.InlayHint(
                position=position,
                label=[_part(result, t) for t in range(len(result.data.target_tokens))],
                padding_left=False,
                padding_right=False,
            )
        )
    return hints


def _part(result: StoredResult, t: int) -> types.InlayHintLabelPart:
    data = result.data
    tok = data.target_tokens[t]
    facts = [f"probability {md.number(tok.probability)}"]
    if data.deltas is not None:
        facts.append(f"delta {md.number(data.deltas[t])}")
    tooltip = f"target {t}: **{md.token(tok.shown)}** · " + " · ".join(facts) + f"\n\n{md.escape(data.method_label)}"
    return types.InlayHintLabelPart(
        value=md.visible(tok.text) if "\n" in tok.text or tok.text == "" else tok.text,
        tooltip=types.MarkupContent(kind=types.MarkupKind.Markdown, value=tooltip),
        command=types.Command(title=f"Focus target {t}", command=FOCUS_TARGET_COMMAND, arguments=[result.id, t]),
    )
