"""Chat templates: the prompt a chat model was trained on, with every token mapped back to the user's text.

With the ``chat`` option the tokenizer's own chat template (Jinja, ``tokenizer.chat_template``) is
applied: the selection becomes one user message, or (``context: document``) the document is read as
a transcript of turns (:func:`parse_transcript`). The template's own tokens (role headers, BOS,
``<|im_start|>``, the assistant prefix the generation starts after) are kept in the prompt and
marked ``template``: they carry attribution like any token, but have no place in the user's text.

How tokens find their text: the template is rendered once with a unique placeholder in place of
each message's content, which cuts the rendering into the template's pieces around the contents;
the prompt is those pieces joined with the real contents (checked against rendering the real
messages, so a template that rewrites a message's text is refused rather than mis-mapped). The
joined string is tokenised whole, as ``apply_chat_template(tokenize=True)`` does, and a token that
overlaps a content region gets that region's code points in the user's text (a token merging a
template character with the first content character keeps only its content part); the others are
template tokens.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .symbols import line_starts, split_lines
from .tokens import Token, Tokenizer, byte_label

ROLES = ("system", "user", "assistant")

# A turn starts at a line "user: text" (the text may follow on the same line) or at a header line
# "### User" (Markdown level 1-6, an optional colon); role names are case-insensitive. Matched per
# line, lines broken as LSP breaks them (symbols.split_lines).
_INLINE = re.compile(r"(system|user|assistant):[ \t]?", re.IGNORECASE)
_HEADER = re.compile(r"#{1,6}[ \t]*(system|user|assistant)[ \t]*:?[ \t]*", re.IGNORECASE)
# Private-use characters around a number: nothing a template writes itself, and nothing a filter
# (upper, title, trim) changes, so a template that rewrites text is caught by the comparison below.
_PLACEHOLDER = "\ue000{}\ue001"


@dataclass(frozen=True)
class Turn:
    """One message: its role and its content's code points ``start..end`` in the user's text."""

    role: str
    start: int
    end: int


@dataclass(frozen=True)
class ChatPrompt:
    """The templated prompt.

    Attributes:
        rendered: the string the template produced (what is tokenised).
        turns: the messages, in order.
        sources: the prompt's tokens; content tokens have spans into the user's text, template
            tokens none (``template=True``).
        token_turns: per source token, the turn it belongs to: its own for a content token; for a
            template token, the turn whose rendering it is in (its header opens the turn, its
            end-of-turn closes it), or, for a template whose prefixes do not render that way, the
            turn it opens; the generation prompt after the last turn (the reply's assistant prefix)
            gets ``len(turns)``.
        word_ids: per source token, the tokenizer's word index (None for added tokens).
        continues: the last turn is the assistant's and the model continues it (no new reply opened).
        notes: what a person should know (text outside every turn, a document read as one message).
    """

    rendered: str
    turns: list[Turn]
    sources: list[Token]
    token_turns: list[int]
    word_ids: list[int | None]
    continues: bool
    notes: list[str]

    def turn_label(self, index: int) -> tuple[str, str]:
        """``(role, label)`` of turn ``index`` ("user 2": the second user turn); ``len(turns)`` is the
        reply the model writes."""
        if index == len(self.turns):
            role = "assistant"
            count = sum(1 for t in self.turns if t.role == role) + 1
            return role, f"{role} {count} (reply)"
        role = self.turns[index].role
        count = sum(1 for t in self.turns[: index + 1] if t.role == role)
        return role, f"{role} {count}"


def droppable(text: str, *, transcript: bool) -> int:
    """How many turns :func:`chat_prompt` may leave out of ``text`` to fit a model: all but the last
    (and a leading system turn)."""
    if not transcript:
        return 0
    turns, _ = parse_transcript(text)
    return max(0, len(turns) - 1 - (1 if turns[0].role == "system" else 0))


def has_chat_template(tokenizer: Tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def parse_transcript(text: str) -> tuple[list[Turn], list[str]]:
    """The turns of a transcript, and notes.

    A turn starts at a line that begins with ``system:``, ``user:`` or ``assistant:`` (its content
    may start on the same line) or at a Markdown header line ``### System`` / ``## User`` / ...;
    it runs to the next such line. A turn's content is stripped of the whitespace around it (the
    blank lines between turns are layout). Text before the first marker is left out of the prompt,
    with a note; a text without any marker is one user message, with a note.
    """
    # (line, role, where the content may start) for each marker line
    markers: list[tuple[int, str, int]] = []
    starts = line_starts(text)
    for n, (line, start) in enumerate(zip(split_lines(text), starts, strict=True)):
        header = _HEADER.fullmatch(line)
        if header:  # the content starts on the next line
            markers.append((n, header.group(1).lower(), starts[n + 1] if n + 1 < len(starts) else len(text)))
            continue
        inline = _INLINE.match(line)
        if inline:
            markers.append((n, inline.group(1).lower(), start + inline.end()))
    if not markers:
        begin, end = _strip(text, 0, len(text))
        note = (
            "chat: the document has no turn markers (lines starting 'user:', 'assistant:', 'system:' or headers "
            "'### User' ...), so all of it is one user message"
        )
        return [Turn("user", begin, end)], [note]
    notes: list[str] = []
    if text[: starts[markers[0][0]]].strip():
        notes.append(
            f"chat: the text before the first turn marker (line {markers[0][0] + 1}) is in no turn and was left "
            "out of the prompt"
        )
    turns = []
    for i, (_, role, begin) in enumerate(markers):
        end = starts[markers[i + 1][0]] if i + 1 < len(markers) else len(text)
        turns.append(Turn(role, *_strip(text, begin, end)))
    return turns, notes


def chat_prompt(tokenizer: Tokenizer, model_name: str, text: str, *, transcript: bool, drop: int = 0) -> ChatPrompt:
    """The chat prompt for ``text``: one user message, or (``transcript``) the turns it holds, the
    first ``drop`` of them left out (a leading system turn is kept: it says how to answer).

    When the last turn is the assistant's, the model continues it (the rendering stops where its
    content ends); otherwise the template's generation prompt opens the reply
    (``add_generation_prompt``), and the generation starts where that prefix ends.
    """
    if not has_chat_template(tokenizer):
        raise InputError(
            f"{model_name} has no chat template (its tokenizer has no chat_template), so the chat option cannot "
            "apply one: turn chat off, or use a chat model whose tokenizer_config.json carries a template"
        )
    if transcript:
        turns, notes = parse_transcript(text)
    else:
        turns, notes = [Turn("user", 0, len(text))], []
    if drop:
        head = turns[:1] if turns[0].role == "system" else []
        turns = head + turns[len(head) + drop :]
    if turns[-1].role == "assistant" and turns[-1].start == turns[-1].end and len(turns) > 1:
        turns = turns[:-1]  # an empty "assistant:" at the end asks for the reply: the generation prompt opens it
    continues = turns[-1].role == "assistant"
    roles = [t.role for t in turns]
    contents = [text[t.start : t.end] for t in turns]
    pieces = _template_pieces(tokenizer, model_name, roles, continues)
    joined = pieces[0] + "".join(c + p for c, p in zip(contents, pieces[1:], strict=True))
    if _render(tokenizer, model_name, roles, contents, continues) != joined:
        raise InputError(
            f"the chat template of {model_name} changes the messages' text (it does more than place each content), "
            "so its tokens cannot be mapped back to yours; use the model without the chat option"
        )
    # continuing the assistant's message: the prompt stops where its content ends (what transformers'
    # continue_final_message does), so the end-of-turn after it is not in the prompt
    rendered = joined[: len(joined) - len(pieces[-1])] if continues else joined
    regions = []
    at = len(pieces[0])
    for content, piece in zip(contents, pieces[1:], strict=True):
        regions.append((at, at + len(content)))
        at += len(content) + len(piece)
    ends = _turn_ends(tokenizer, roles, contents)
    sources, token_turns, word_ids = _tokens(tokenizer, text, rendered, turns, regions, ends)
    return ChatPrompt(rendered, turns, sources, token_turns, word_ids, continues, notes)


# ----------------------------------------------------------------------------------------------


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _render(
    tokenizer: Tokenizer, model_name: str, roles: Sequence[str], contents: Sequence[str], continues: bool
) -> str:
    """The template over the messages, with the generation prompt unless the last one is continued."""
    messages = [{"role": r, "content": c} for r, c in zip(roles, contents, strict=True)]
    try:
        rendered: Any = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=not continues)
    except Exception as exc:  # jinja2's TemplateError, or raise_exception() in the template itself
        raise InputError(
            f"the chat template of {model_name} refused these turns ({', '.join(roles)}): {exc}; "
            "check the transcript's roles (many templates want user and assistant turns to alternate)"
        ) from None
    if not isinstance(rendered, str):
        raise InputError(f"the chat template of {model_name} did not produce text (got {type(rendered).__name__})")
    return rendered


def _template_pieces(tokenizer: Tokenizer, model_name: str, roles: Sequence[str], continues: bool) -> list[str]:
    """The template's text around the contents: ``len(roles) + 1`` pieces (the last is what follows
    the last content: its end of turn and the generation prompt)."""
    marks = _marks(len(roles))
    return _cut_at_marks(_render(tokenizer, model_name, roles, marks, continues), marks, model_name)


def _marks(n: int) -> list[str]:
    return [_PLACEHOLDER.format(i) for i in range(n)]


def _cut_at_marks(rendered: str, marks: Sequence[str], model_name: str) -> list[str]:
    pieces = []
    at = 0
    for mark in marks:
        found = rendered.find(mark, at)
        if found < 0 or rendered.count(mark) != 1:
            raise InputError(
                f"the chat template of {model_name} does not write each message's content exactly once, so its "
                "tokens cannot be mapped back to your text; use the model without the chat option"
            )
        pieces.append(rendered[at:found])
        at = found + len(mark)
    pieces.append(rendered[at:])
    return pieces


def _turn_ends(tokenizer: Tokenizer, roles: Sequence[str], contents: Sequence[str]) -> list[int] | None:
    """Where each turn's rendering ends in the prompt (its end-of-turn tokens included): the
    template over the first k messages is, for the usual templates, a prefix of the template over
    all of them, so turn k ends where that rendering ends. None when the template does not render
    its prefixes that way (it merges a system message into the first user turn, say); the
    caller then gives each template token to the turn it opens."""
    marks = _marks(len(roles))
    whole = _render_or_none(tokenizer, roles, marks, add_generation_prompt=False)
    if whole is None:
        return None
    ends = []
    for k in range(1, len(roles) + 1):
        prefix = _render_or_none(tokenizer, roles[:k], marks[:k], add_generation_prompt=False)
        if prefix is None or not whole.startswith(prefix) or marks[k - 1] not in prefix:
            return None
        # the prefix holds marks 0..k-1 whole: in the prompt they are the contents instead
        shift = sum(len(m) - len(c) for m, c in zip(marks[:k], contents[:k], strict=True))
        ends.append(len(prefix) - shift)
    return ends if all(a <= b for a, b in itertools.pairwise(ends)) else None


def _render_or_none(
    tokenizer: Tokenizer, roles: Sequence[str], contents: Sequence[str], *, add_generation_prompt: bool
) -> str | None:
    messages = [{"role": r, "content": c} for r, c in zip(roles, contents, strict=True)]
    try:
        rendered: Any = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    except Exception:  # a template may refuse a prefix (it wants a user message last, say)
        return None
    return rendered if isinstance(rendered, str) else None


def _tokens(
    tokenizer: Tokenizer,
    text: str,
    rendered: str,
    turns: Sequence[Turn],
    regions: Sequence[tuple[int, int]],
    ends: Sequence[int] | None,
) -> tuple[list[Token], list[int], list[int | None]]:
    enc = tokenizer(rendered, add_special_tokens=False, return_offsets_mapping=True)
    special_ids = set(tokenizer.all_special_ids)
    sources: list[Token] = []
    token_turns: list[int] = []
    for tid, (a, b) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        r = _region_of(regions, a, b)
        if r is not None:
            ra, rb = regions[r]
            start = max(a, ra) - ra + turns[r].start
            end = min(b, rb) - ra + turns[r].start
            sources.append(Token(text[start:end], tid, start, end, False, label=byte_label(tokenizer, tid)))
            token_turns.append(r)
            continue
        shown = rendered[a:b] or tokenizer.convert_ids_to_tokens(tid)
        sources.append(
            Token(shown, tid, None, None, tid in special_ids, label=byte_label(tokenizer, tid), template=True)
        )
        if ends is not None:  # the turn whose rendering it starts in; after the last, the reply's prefix
            token_turns.append(next((i for i, end in enumerate(ends) if a < end), len(turns)))
        else:  # the turn it opens: the first whose content starts at or after it
            token_turns.append(next((i for i, (ra, _) in enumerate(regions) if ra >= b), len(turns)))
    return sources, token_turns, list(enc.word_ids())


def _region_of(regions: Sequence[tuple[int, int]], a: int, b: int) -> int | None:
    """The content region a token at ``[a, b)`` of the rendering overlaps, if any."""
    for i, (ra, rb) in enumerate(regions):
        if a < rb and b > ra:
            return i
        if a == b and ra <= a < rb:  # a piece of a character whose other pieces carry its offsets
            return i
    return None
