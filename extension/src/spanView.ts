/**
 * What the editor draws for spans, as pure functions (no vscode import, so unit tests run them in
 * plain Node): each span's value and share, the top spans, the heat of each line, span hovers.
 */
import { COMMAND_IDS } from "./commandIds";
import type { Span } from "./protocol";
import type { StoredResult } from "./results";

/** How many spans get their share written at the end of their first line. */
export const TOP_SPANS = 3;

/** A span's value for the focused target, or summed over every target (nulls skipped). */
export function spanValue(span: Span, focus: number | null): number {
    if (focus !== null) {
        return span.scores[focus] ?? 0;
    }
    return span.scores.reduce<number>((sum, v) => sum + (v ?? 0), 0);
}

/** Each span's share of the total |value| over all spans (0 when every value is 0). */
export function spanShares(spans: readonly Span[], focus: number | null): number[] {
    const values = spans.map((s) => Math.abs(spanValue(s, focus)));
    const total = values.reduce((a, b) => a + b, 0);
    return values.map((v) => (total > 0 ? v / total : 0));
}

/** Indices of the `k` spans with the largest |value|, special tokens (BOS) left out. */
export function topSpans(spans: readonly Span[], focus: number | null, k: number): number[] {
    return spans
        .map((s, i) => ({ i, v: Math.abs(spanValue(s, focus)), special: s.kind === "special" || s.range === null }))
        .filter((x) => !x.special && x.v > 0)
        .sort((a, b) => b.v - a.v || a.i - b.i)
        .slice(0, k)
        .map((x) => x.i);
}

/** The lines a span covers: a range ending at a line's first character does not cover that line. */
export function spanLines(span: Span): [number, number] | undefined {
    if (span.range === null) {
        return undefined;
    }
    const { start, end } = span.range;
    const last = end.character === 0 && end.line > start.line ? end.line - 1 : end.line;
    return [start.line, last];
}

/** Per line, the value of the span that starts on it or covers it (the first span wins a line). */
export function lineHeat(spans: readonly Span[], focus: number | null): Map<number, number> {
    const heat = new Map<number, number>();
    for (const span of spans) {
        const lines = spanLines(span);
        if (lines === undefined) {
            continue;
        }
        for (let line = lines[0]; line <= lines[1]; line++) {
            if (!heat.has(line)) {
                heat.set(line, spanValue(span, focus));
            }
        }
    }
    return heat;
}

/** "def parse_args — 31%" */
export function shareLabel(span: Span, share: number): string {
    return `${span.label} — ${Math.round(share * 100)}%`;
}

/** The span of `stored` at a position, if any. */
export function spanAt(stored: StoredResult, line: number, character: number): number | undefined {
    const spans = stored.result.spans ?? [];
    for (let i = 0; i < spans.length; i++) {
        const range = spans[i].range;
        if (range === null) {
            continue;
        }
        const after = line > range.start.line || (line === range.start.line && character >= range.start.character);
        const before = line < range.end.line || (line === range.end.line && character < range.end.character);
        if (after && before) {
            return i;
        }
    }
    return undefined;
}

/**
 * Whether a result is shown as spans (lines, blocks, symbols, words): then the editor draws the
 * heat strip and the shares, and token colours only inside the span the user drilled down into
 * (a 2,000-token context coloured token by token is unreadable: that is what spans are for).
 */
export function showsSpans(stored: StoredResult): boolean {
    return (stored.result.spans ?? []).some((s) => s.kind !== "token" && s.kind !== "special");
}

/** The span a result is drilled down into, if any (an index that no longer exists counts as none). */
export function drilledSpan(stored: StoredResult): number | undefined {
    const drill = stored.drill;
    return drill !== undefined && drill !== null && drill >= 0 && drill < (stored.result.spans ?? []).length
        ? drill
        : undefined;
}

/**
 * What the token colours are drawn from: the result itself when it is not shown as spans; nothing
 * in the span view; after a drill-down, the result with every token outside the span taken out of
 * view and out of the colour scale (range null, not special: the palette leaves those out of both),
 * so the span's own tokens use the whole scale. The scores are the result's token matrix, as the
 * daemon sent them: nothing is recomputed here.
 */
export function tokenView(stored: StoredResult): StoredResult | undefined {
    if (!showsSpans(stored)) {
        return stored;
    }
    const drill = drilledSpan(stored);
    if (drill === undefined) {
        return undefined;
    }
    const [first, last] = (stored.result.spans ?? [])[drill].tokens;
    return {
        ...stored,
        result: {
            ...stored.result,
            sourceTokens: stored.result.sourceTokens.map((t, i) =>
                i >= first && i <= last ? t : { ...t, range: null, special: false },
            ),
            targetTokens: stored.result.targetTokens.map((t) => ({ ...t, range: null, special: false })),
        },
    };
}

/**
 * Whether the tokens of span `index` were scored one by one for the focused target (or for any
 * target, with the sum shown). Token methods score every token; span methods only inside each
 * target's top spans (option drillDown), which `drilled` records.
 */
export function spanTokensScored(stored: StoredResult, index: number): boolean {
    const drilled = (stored.result.spans ?? [])[index]?.drilled;
    if (drilled === null || drilled === undefined) {
        return true;
    }
    return stored.focus !== null ? drilled[stored.focus] === true : drilled.some((d) => d);
}

/** A `command:` link for trusted markdown (hovers): the command id and its JSON arguments. */
export function commandLink(title: string, command: string, args: readonly unknown[]): string {
    return `[${title}](command:${command}?${encodeURIComponent(JSON.stringify(args))})`;
}

/** Markdown for a span's hover: label, share, score and its three largest tokens. */
export function spanHoverMarkdown(stored: StoredResult, index: number): string {
    const spans = stored.result.spans ?? [];
    const span = spans[index];
    const focus = stored.focus;
    const share = spanShares(spans, focus)[index];
    const value = spanValue(span, focus);
    const [first, last] = span.tokens;
    const row = (col: number): number => {
        const rows = stored.result.scores;
        if (focus !== null) {
            return rows[focus]?.[col] ?? 0;
        }
        return rows.reduce<number>((sum, r) => sum + (r[col] ?? 0), 0);
    };
    const tokens = [];
    for (let col = first; col <= last; col++) {
        tokens.push({ text: stored.result.sourceTokens[col]?.text ?? "", v: row(col) });
    }
    const top = tokens
        .filter((t) => t.v !== 0)
        .sort((a, b) => Math.abs(b.v) - Math.abs(a.v))
        .slice(0, 3)
        .map((t) => `\`${JSON.stringify(t.text)}\` ${t.v >= 0 ? "+" : ""}${t.v.toPrecision(3)}`);
    const which = focus === null ? "summed over targets" : `target ${focus}`;
    const fit = stored.result.spanFit;
    const lines = [
        `**${escapeMarkdown(span.label)}** (${span.kind}) — ${Math.round(share * 100)}% of the attribution (${which})`,
        "",
        `score ${value >= 0 ? "+" : ""}${value.toPrecision(4)} · ${stored.result.method}`,
    ];
    if (top.length > 0) {
        lines.push("", `top tokens: ${top.join(", ")}`);
    }
    if (fit !== undefined && fit !== null) {
        const worst = Math.min(...fit);
        lines.push("", `surrogate fit on held-out masks: R² ≥ ${worst.toFixed(2)}`);
    }
    if (showsSpans(stored)) {
        const id = stored.result.id;
        lines.push(
            "",
            drilledSpan(stored) === index
                ? commandLink("Back to the span view", COMMAND_IDS.showSpans, [id])
                : commandLink("Show tokens in this span", COMMAND_IDS.drillDown, [id, index]),
        );
    }
    return lines.join("\n");
}

export function escapeMarkdown(text: string): string {
    return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
}

