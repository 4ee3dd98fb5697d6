"""The hover text for one token: raw numbers, what they are, and how they were computed.

Numbers are shown raw (no normalisation: the colours do that), always with the method, step
function and baseline that produced them, because a score means nothing without them.
"""

from __future__ import annotations

from . import markdown as md
from .documents import StoredResult, TokenHit
from .results import ResultData

MAX_TABLE_ROWS = 16
TOP_SOURCES = 5


def hover_markdown(hit: TokenHit) -> str:
    if hit.side == "source":
        return _source_hover(hit)
    return _target_hover(hit)


def _provenance(result: StoredResult) -> str:
    """What was computed, exactly: the method, its step function (not for attention weights, which
    evaluate none), the baseline, its budget in the method's own unit (samples for the stochastic
    methods, steps for the path methods), and the model."""
    data = result.data
    parts = [f"**{md.escape(data.method_label)}**"]
    if data.uses_step_function:
        parts.append(f"step function {md.escape(data.step_function)}")
    if data.baseline_scores is not None:
        parts.append(f"baseline {md.escape(data.baseline)}")
    if data.n_steps is not None and data.budget is not None:
        unit = data.budget if data.n_steps != 1 else data.budget.removesuffix("s")
        parts.append(f"{data.n_steps} {unit}")
    parts.append(f"{md.escape(data.model['name'])}")
    return " · ".join(parts)


def _vector(data: ResultData, focus: int | None) -> list[float]:
    """The scores on show: the focused target's row, or the sum over targets (None counts 0)."""
    n = len(data.source_tokens) + len(data.target_tokens)
    if focus is not None:
        return [v or 0.0 for v in data.scores[focus][:n]]
    return [sum((row[j] or 0.0) for row in data.scores) for j in range(n)]


def special_share_line(data: ResultData, focus: int | None) -> str:
    """ "<|endoftext|> carries 38% of |attribution|" for the special tokens with a share of the view
    on show (the editor leaves them out of its colour scale, so their weight is said in words)."""
    vector = _vector(data, focus)
    total = sum(abs(v) for v in vector)
    tokens = [*data.source_tokens, *data.target_tokens]
    if total <= 0:
        return ""
    # as the editor says it: each special token alone, a chat template's tokens summed once
    shares = [
        (md.token(tokens[j].shown), abs(vector[j]))
        for j in range(len(vector))
        if tokens[j].special and not tokens[j].template and vector[j] != 0
    ]
    template = sum(abs(vector[j]) for j in range(len(vector)) if tokens[j].template)
    if template > 0:
        shares.append(("the chat template", template))
    parts = [
        f"{text} carries {100 * share / total:.0f}% of \\|attribution\\|"
        for text, share in sorted(shares, key=lambda pair: -pair[1])
    ]
    return "; ".join(parts) + " (special: not in the colour scale)" if parts else ""


def _delta_share(data: ResultData, t: int) -> str:
    """Target ``t``'s convergence delta and its share of what its scores should add up to."""
    if data.deltas is None:
        return "—"
    delta = data.deltas[t]
    if data.baseline_scores is not None:
        return f"{md.number(delta)} ({md.percent(delta, data.target_scores[t] - data.baseline_scores[t])})"
    return f"{md.number(delta)} ({md.percent(delta, data.target_scores[t])} of f(x))"


def _pieces_note(hit: TokenHit) -> str:
    if len(hit.siblings) < 2:
        return ""
    return (
        f"\n\nThis character is split into {len(hit.siblings)} byte-level tokens "
        f"({', '.join(str(i) for i in hit.siblings)}); shown: token {hit.index}."
    )


def _source_hover(hit: TokenHit) -> str:
    result, i = hit.result, hit.index
    data = result.data
    tok = data.source_tokens[i]
    n_targets, n_sources = len(data.target_tokens), len(data.source_tokens)

    def score(column: int, target: int | None) -> float:
        if target is not None:
            return data.scores[target][column] or 0.0
        return sum(row[column] or 0.0 for row in data.scores)

    focus = result.focus
    if focus is None:
        which = f"sum over all {n_targets} target{'s' if n_targets != 1 else ''} (focus a target to see one)"
    else:
        which = f"target {focus} {md.token(data.target_tokens[focus].shown)}"
    value = score(i, focus)
    # ranked among the visible tokens: a special token (an invisible BOS) often scores highest and
    # would push every visible token down a place
    visible = [j for j in range(n_sources) if not (data.source_tokens[j].special or data.source_tokens[j].template)]
    if tok.special:
        standing = "special token: not ranked, not in the colour scale"
    else:
        rank = 1 + sum(1 for j in visible if score(j, focus) > value)
        standing = f"rank {rank} of {len(visible)} visible tokens"
    special = " (special)" if tok.special else ""
    delta_header = "target's delta (share of f(x) − f(x′))" if data.baseline_scores is not None else "target's delta"
    lines = [
        f"**{md.token(tok.shown)}**{special} — source token {i} of {n_sources}",
        "",
        f"score **{md.number(value)}** for the {which} · {standing}",
        "",
        _provenance(result),
        "",
        f"| # | target | score | {delta_header} |",
        "|--:|:--|--:|--:|",
    ]
    for t, target in enumerate(data.target_tokens[:MAX_TABLE_ROWS]):
        mark = " ◀" if t == focus else ""
        # the convergence delta belongs to the target's row, not to this token: how far that row's
        # scores are from adding up to f(x) − f(x′), as a share of it so its size can be judged
        lines.append(
            f"| {t} | {md.token(target.shown)}{mark} | {md.number(data.scores[t][i])} | {_delta_share(data, t)} |"
        )
    if n_targets > MAX_TABLE_ROWS:
        lines.append(f"| … | {n_targets - MAX_TABLE_ROWS} more | | |")
    if data.deltas is not None:
        lines += ["", "Each delta is its target's (Σ of that target's scores − f(x) + f(x′)), not this token's."]
    share = special_share_line(data, focus)
    if share:
        lines += ["", share]
    return "\n".join(lines) + _pieces_note(hit) + evaluation_footer(result, focus)


def _target_hover(hit: TokenHit) -> str:
    result, t = hit.result, hit.index
    data = result.data
    tok = data.target_tokens[t]
    n_sources = len(data.source_tokens)
    fx = data.target_scores[t]
    lines = [
        f"**{md.token(tok.shown)}** — target {t} of {len(data.target_tokens)}"
        f" · probability {md.number(tok.probability)}",
        "",
    ]
    if data.baseline_scores is not None:
        change = fx - data.baseline_scores[t]
        base = data.baseline_scores[t]
        summary = f"f(x) − f(x′) = {md.number(change)} (f(x) = {md.number(fx)}, f(x′) = {md.number(base)})"
        if data.deltas is not None:
            delta = data.deltas[t]
            summary += f" · delta {md.number(delta)} ({md.percent(delta, change)} of f(x) − f(x′))"
    else:
        summary = f"f(x) = {md.number(fx)}"
        if data.deltas is not None:  # LRP: relevance not passed on to tokens, against f(x) itself
            delta = data.deltas[t]
            summary += f" · delta {md.number(delta)} ({md.percent(delta, fx)} of f(x))"
    lines += [summary, "", _provenance(result), "", "Top source tokens:", "", "| # | source | score |", "|--:|:--|--:|"]
    row = data.scores[t]
    ranked = sorted(range(n_sources), key=lambda j: _highest_first(row[j]))
    for j in ranked[:TOP_SOURCES]:
        lines.append(f"| {j} | {md.token(data.source_tokens[j].shown)} | {md.number(row[j])} |")
    share = special_share_line(data, t)
    if share:
        lines += ["", share]
    return "\n".join(lines) + _pieces_note(hit) + evaluation_footer(result, t)


def _highest_first(score: float | None) -> float:
    """Sort key: the highest score first, a missing one last."""
    return -score if score is not None else float("inf")


def evaluation_footer(result: StoredResult, target: int | None) -> str:
    """The faithfulness figures (one target's, or the mean over targets) and the sanity verdict, when
    the result was evaluated; read from the engine's figures, never recomputed here."""
    data = result.data
    lines: list[str] = []
    faith = data.faithfulness
    if faith is not None:
        if target is None:
            figures = faith["mean"]
            which = "mean over targets"
            rand_del, rand_ins = figures["randomDeletionAuc"], figures["randomInsertionAuc"]
        else:
            figures = faith["targets"][target]
            which = f"target {target}"
            spread = figures["random"]
            rand_del = None if spread["deletionAuc"] is None else spread["deletionAuc"]["mean"]
            rand_ins = None if spread["insertionAuc"] is None else spread["insertionAuc"]["mean"]
        deletion, insertion = figures["deletionAuc"], figures["insertionAuc"]
        if deletion is None:
            reason = figures.get("undefined") or "undefined for every target"
            lines.append(f"Faithfulness ({which}): undefined: {md.escape(reason)}")
        else:
            lines.append(
                f"Faithfulness ({which}): deletion AUC **{_short(deletion)}** (random {_short(rand_del)}) · "
                f"insertion AUC **{_short(insertion)}** (random {_short(rand_ins)}) · 1 is ideal"
            )
    sanity = data.sanity
    if sanity is not None:
        if sanity["message"]:
            lines.append(f"⚠ Sanity check: {md.escape(sanity['message'])}")
        elif sanity.get("note"):
            lines.append(f"Sanity check: {md.escape(sanity['note'])}")
        else:
            lines.append(
                f"Sanity check: rank correlation {_short(sanity['spearman'])} with the top layers re-initialised"
            )
    return "".join("\n\n" + line for line in lines)


def _short(value: float | None) -> str:
    """An AUC or a correlation: three decimals are all the precision these figures have."""
    return "—" if value is None else f"{value:.3f}"
