/**
 * The Attribution Matrix webview's HTML, pure (unit-tested for escaping and CSP).
 *
 * Every token string is escaped here, server-side: a token may well be `<script>` or
 * `<img src=x onerror=…>`. Colours go through classes in a nonce'd `<style>` (the CSP forbids
 * inline `style` attributes), using the same palette and levels as the editor decorations. The
 * only script is nonce'd and turns clicks on cells into `{type: "focus", target}` messages.
 */
import {
    DEAD_ZONE,
    divergingRgb,
    hex,
    levelBounds,
    LEVELS,
    legendCaption,
    maxAbs,
    quantise,
    specialPositions,
    specialShareLine,
    textRgb,
    without,
    type Normalization,
    type Palette,
    type Quantised,
} from "./palette";
import type { AttributeResult } from "./protocol";

export interface MatrixInput {
    result: AttributeResult;
    focus: number | null;
    palette: Palette;
    normalization: Normalization;
    fixedScale: number;
    /** `webview.cspSource`. */
    cspSource: string;
    /** A fresh random nonce per render. */
    nonce: string;
    /** Whether special tokens (BOS) count towards the scale (tokenlight.specialTokensInScale). */
    specialsInScale?: boolean;
}

/** Header text longer than this is cut (with "…"); the whole token is in the cell's tooltip. */
export const HEADER_CHARS = 8;

/** `text` cut to `max` characters (code points) with an ellipsis. */
export function truncate(text: string, max: number = HEADER_CHARS): string {
    const chars = [...text];
    return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

const ESCAPES: Record<string, string> = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
};

/**
 * Escapes text for HTML text and for double- or single-quoted attribute values. With
 * `singleQuotes` false, `'` is kept (for the CSP, whose `'none'` must read as written inside a
 * double-quoted attribute).
 */
export function escapeHtml(text: string, singleQuotes = true): string {
    return text.replace(singleQuotes ? /[&<>"']/g : /[&<>"]/g, (ch) => ESCAPES[ch]);
}

// Bidi overrides and zero-width characters could reorder or hide what a token looks like.
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/**
 * A one-line visible form of a token: newline ↵, tab ⇥, other control and invisible characters as
 * `\uXXXX` (as the CLI's colors.sanitize), spaces as `·` so leading spaces show.
 */
export function visibleToken(text: string): string {
    return text
        .replace(/\r\n|\n|\r/g, "↵")
        .replace(/\t/g, "⇥")
        .replace(/ /g, "·")
        .replace(INVISIBLE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`)
        .replace(/\p{Cc}/gu, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function formatScore(value: number | null): string {
    if (value === null || !Number.isFinite(value)) {
        return "no score (after the causal boundary)";
    }
    const s = value.toPrecision(4);
    return value > 0 ? `+${s}` : s;
}

function className(colour: Quantised | undefined): string {
    return colour === undefined ? "z" : `${colour.sign === "positive" ? "p" : "n"}${colour.level}`;
}

/** One CSS rule per level and sign, coloured like the decorations (each level's upper bound). */
function levelRules(palette: Palette): string {
    const rules: string[] = [];
    for (const sign of ["negative", "positive"] as const) {
        for (let level = 1; level <= LEVELS; level++) {
            const value = (sign === "positive" ? 1 : -1) * levelBounds(level)[1];
            const bg = divergingRgb(palette, value, 1) ?? [247, 247, 247];
            const cls = className({ sign, level });
            rules.push(`.${cls}{background:${hex(bg)};color:${hex(textRgb(bg))}}`);
        }
    }
    return rules.join("\n");
}

/**
 * Per-target (column) scales for `target`, one shared scale for `global`, the fixed one for `none`;
 * special tokens take no part unless `specialsInScale` (as in the editor).
 */
function columnScales(
    result: AttributeResult,
    normalization: Normalization,
    fixedScale: number,
    specialsInScale: boolean,
): number[] {
    const specials = specialsInScale ? new Set<number>() : specialPositions(result);
    const rows = result.scores.map((row) => without(row, specials));
    const scale = normalization === "global" ? maxAbs(rows.flat()) : fixedScale > 0 ? fixedScale : 1.0;
    return rows.map((row) => (normalization === "target" ? maxAbs(row) : scale));
}

/**
 * The per-layer view (option `perLayer`): the target's layer IG at every block's output, drawn with
 * the tokens down the side as in the matrix and one column per block. One scale over the whole
 * view: every row adds up to the same output change, so depths are compared on one scale.
 */
export function layerViewHtml(result: AttributeResult, specialsInScale: boolean): string {
    const view = result.perLayer;
    if (view === null || view === undefined || view.scores.length === 0 || result.targetTokens[view.target] === undefined) {
        return "";
    }
    const S = result.sourceTokens.length;
    const visible = S + view.target;
    const specials = specialsInScale ? new Set<number>() : specialPositions(result);
    const scale = maxAbs(view.scores.flatMap((row) => without(row.slice(0, visible), specials)));
    const target = result.targetTokens[view.target];
    const targetText = JSON.stringify(target.label ?? target.text);
    const header = view.scores
        .map((_, layer) => {
            const delta = view.deltas[layer] ?? null;
            const title = `block ${layer} · delta ${formatScore(delta)}`;
            return `<th class="tgt" title="${escapeHtml(title)}">${layer}</th>`;
        })
        .join("");
    const tokens = [...result.sourceTokens, ...result.targetTokens].slice(0, visible);
    const rows = tokens
        .map((token, j) => {
            const text = token.label ?? token.text;
            const kind = j >= S ? "target" : token.special === true ? "special" : "source";
            const cells = view.scores
                .map((row, layer) => {
                    const value = row[j] ?? null;
                    const title = `${JSON.stringify(text)} → ${targetText} at block ${layer}: ${formatScore(value)}`;
                    return `<td class="${className(quantise(value, scale))}${value === null ? " nan" : ""}" title="${escapeHtml(title)}"></td>`;
                })
                .join("");
            const rowLabel = j < S ? `${j + 1}` : `t${j - S + 1}`;
            return (
                `<tr class="${kind}"><th class="idx">${rowLabel}</th>` +
                `<th class="tok" title="${escapeHtml(JSON.stringify(text))}">${escapeHtml(truncate(visibleToken(text), 2 * HEADER_CHARS))}</th>${cells}</tr>`
            );
        })
        .join("\n");
    return `<h3 id="layers-title">${escapeHtml(`Through the layers: target ${view.target + 1} ${targetText}`)}</h3>
<p class="caption">Layer Integrated Gradients at the residual stream after each block (columns: block 0 first); every column adds up to the same output change. One scale over the view.</p>
<table id="layers" aria-labelledby="layers-title">
<thead><tr><th class="idx">#</th><th class="tok">source \\ block</th>${header}</tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
}

export function matrixHtml(input: MatrixInput): string {
    const { result, focus, palette, normalization, fixedScale, cspSource, nonce } = input;
    const specialsInScale = input.specialsInScale ?? false;
    const S = result.sourceTokens.length;
    const T = result.targetTokens.length;
    const scales = columnScales(result, normalization, fixedScale, specialsInScale);
    const positions = [
        ...result.sourceTokens.map((t) => ({ text: t.label ?? t.text, kind: t.special ? "special" : "source" })),
        ...result.targetTokens.map((t) => ({ text: t.label ?? t.text, kind: "target" })),
    ];

    const header = result.targetTokens
        .map((target, t) => {
            const delta = result.deltas?.[t];
            const title =
                `target ${t + 1}: ${JSON.stringify(target.label ?? target.text)} · p=${target.probability.toFixed(3)}` +
                (delta === undefined || delta === null ? "" : ` · delta ${formatScore(delta)}`) +
                " — click to focus";
            const cls = t === focus ? "tgt focused" : "tgt";
            return `<th class="${cls}" data-target="${t}" data-col="${t}" tabindex="-1" title="${escapeHtml(title)}">${escapeHtml(truncate(visibleToken(target.label ?? target.text)))}</th>`;
        })
        .join("");

    const rows = positions
        .map((pos, j) => {
            const cells: string[] = [];
            for (let t = 0; t < T; t++) {
                const value = result.scores[t]?.[j] ?? null;
                const colour = quantise(value, scales[t]);
                const targetText = result.targetTokens[t].label ?? result.targetTokens[t].text;
                const title = `${JSON.stringify(pos.text)} → ${JSON.stringify(targetText)}: ${formatScore(value)}`;
                const focused = t === focus ? " focused" : "";
                // One cell is in the tab order (roving tabindex): Tab enters the grid, arrows move.
                const tab = j === 0 && t === 0 ? "0" : "-1";
                cells.push(
                    `<td class="${className(colour)}${value === null ? " nan" : ""}${focused}" role="gridcell" tabindex="${tab}" ` +
                        `data-target="${t}" data-row="${j}" data-col="${t}" title="${escapeHtml(title)}" aria-label="${escapeHtml(title)}"></td>`,
                );
            }
            const rowLabel = j < S ? `${j + 1}` : `t${j - S + 1}`;
            return (
                `<tr class="${pos.kind}"><th class="idx">${rowLabel}</th>` +
                `<th class="tok" title="${escapeHtml(JSON.stringify(pos.text))}">${escapeHtml(truncate(visibleToken(pos.text), 2 * HEADER_CHARS))}</th>` +
                `${cells.join("")}</tr>`
            );
        })
        .join("\n");

    // Spans (lines, blocks, functions) as rows of their own above the tokens, each target's column
    // scaled over the spans (a span sums many tokens: on the tokens' scale every span saturates).
    const spans = result.spans ?? [];
    const spanScales = result.targetTokens.map((_, t) => maxAbs(spans.map((s) => s.scores[t] ?? null)));
    const spanRows = spans
        .map((span, i) => {
            const cells: string[] = [];
            for (let t = 0; t < T; t++) {
                const value = span.scores[t] ?? null;
                const colour = normalization === "none" ? quantise(value, fixedScale) : quantise(value, spanScales[t]);
                const title = `${span.label} → ${JSON.stringify(result.targetTokens[t].text)}: ${formatScore(value)}`;
                const focused = t === focus ? " focused" : "";
                cells.push(`<td class="${className(colour)}${value === null ? " nan" : ""}${focused}" data-target="${t}" title="${escapeHtml(title)}"></td>`);
            }
            return (
                `<tr class="span"><th class="idx">s${i + 1}</th>` +
                `<th class="tok" title="${escapeHtml(`${span.kind}: tokens ${span.tokens[0] + 1}–${span.tokens[1] + 1}`)}">${escapeHtml(span.label)}</th>` +
                `${cells.join("")}</tr>`
            );
        })
        .join("\n");

    const focusLine =
        focus === null || focus >= T
            ? `Editor colours: sum over all ${T} targets.`
            : `Editor colours: target ${focus + 1} ${JSON.stringify(result.targetTokens[focus].text)}.`;
    const csp = `default-src 'none'; style-src ${cspSource} 'nonce-${nonce}'; script-src 'nonce-${nonce}';`;
    const share = specialShareLine({ focus, result });

    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp, false)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Tokenlight: Attribution Matrix</title>
<style nonce="${escapeHtml(nonce)}">
body{font-family:var(--vscode-editor-font-family);font-size:var(--vscode-editor-font-size);color:var(--vscode-foreground);padding:0;margin:0;display:flex;flex-direction:column;height:100vh}
header{flex:none;padding:6px 8px;border-bottom:1px solid var(--vscode-panel-border,#8884);background:var(--vscode-editor-background)}
header p{margin:2px 0}
.caption{color:var(--vscode-descriptionForeground)}
#scroller{flex:1;overflow:auto;padding:0 8px 8px 0}
table{border-collapse:separate;border-spacing:0}
th,td{border-right:1px solid var(--vscode-panel-border,#8884);border-bottom:1px solid var(--vscode-panel-border,#8884);padding:0 4px;white-space:pre}
td{min-width:1.8em;height:1.4em;cursor:pointer}
thead th{position:sticky;top:0;z-index:2;background:var(--vscode-editor-background)}
th.tgt{cursor:pointer;text-align:center;font-weight:normal;max-width:9ch;overflow:hidden;text-overflow:ellipsis}
th.idx{position:sticky;left:0;z-index:1;background:var(--vscode-editor-background);color:var(--vscode-descriptionForeground);font-weight:normal;min-width:2.5em}
th.tok{position:sticky;left:2.5em;z-index:1;background:var(--vscode-editor-background);text-align:left;font-weight:normal}
thead th.idx,thead th.tok{z-index:3}
tr.special th.tok{font-style:italic}
tr.target th.tok{color:var(--vscode-textLink-foreground)}
tr.span th.tok{font-weight:bold}
td.nan{background:repeating-linear-gradient(45deg,#8882,#8882 3px,transparent 3px,transparent 6px)}
.focused{outline:2px solid var(--vscode-focusBorder);outline-offset:-2px}
td:focus,th:focus{outline:2px solid var(--vscode-contrastActiveBorder,var(--vscode-focusBorder));outline-offset:-1px}
.legend{display:flex;align-items:center;max-width:36em}
.legend span.sw{flex:1 1 0;min-width:3px;height:1em}
.legend span.end{flex:none;padding:0 4px}
.legend span.z{outline:1px solid var(--vscode-panel-border,#8884);outline-offset:-1px}
button{font:inherit;color:var(--vscode-button-foreground);background:var(--vscode-button-background);border:none;padding:2px 8px;cursor:pointer}
${levelRules(palette)}
</style>
</head>
<body>
<header>
<p>${escapeHtml(`${result.model.name} · ${result.method} · ${S} source × ${T} target tokens · normalisation: ${normalization}`)}</p>
<p>${escapeHtml(focusLine)} <button id="sum" type="button">Show the sum</button></p>
${share === "" ? "" : `<p id="share">${escapeHtml(share)}</p>`}
<div class="legend" role="img" aria-label="legend"><span class="end">negative</span>${legendCells()}<span class="end">positive</span></div>
<p class="caption">${escapeHtml(legendCaption(normalization, specialsInScale))}. Click a cell (or move with the arrow keys, Enter) to colour the editor by its target.</p>
</header>
<div id="scroller">
<table id="matrix" role="grid" aria-label="attribution matrix">
<thead><tr><th class="idx">#</th><th class="tok">source \\ target</th>${header}</tr></thead>
<tbody>
${spanRows}
${rows}
</tbody>
</table>
${layerViewHtml(result, specialsInScale)}
</div>
<script nonce="${escapeHtml(nonce)}">
(function () {
  const vscode = acquireVsCodeApi();
  document.getElementById("matrix").addEventListener("click", function (event) {
    const cell = event.target instanceof Element ? event.target.closest("[data-target]") : null;
    if (cell) {
      vscode.postMessage({ type: "focus", target: Number(cell.getAttribute("data-target")) });
    }
  });
  document.getElementById("sum").addEventListener("click", function () {
    vscode.postMessage({ type: "focus", target: null });
  });
  // Keyboard: arrows (and Home/End) move between cells, Enter or Space focuses the cell's target.
  const grid = document.getElementById("matrix");
  function cellAt(row, col) {
    return grid.querySelector('td[data-row="' + row + '"][data-col="' + col + '"]');
  }
  grid.addEventListener("keydown", function (event) {
    const cell = event.target instanceof Element ? event.target.closest("td[data-row]") : null;
    if (!cell) {
      return;
    }
    const row = Number(cell.getAttribute("data-row"));
    const col = Number(cell.getAttribute("data-col"));
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    let next = null;
    if (moves[event.key]) {
      next = cellAt(row + moves[event.key][0], col + moves[event.key][1]);
    } else if (event.key === "Home") {
      next = cellAt(row, 0);
    } else if (event.key === "End") {
      next = cellAt(row, ${Math.max(T - 1, 0)});
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      vscode.postMessage({ type: "focus", target: col });
      return;
    }
    if (next) {
      event.preventDefault();
      cell.setAttribute("tabindex", "-1");
      next.setAttribute("tabindex", "0");
      next.focus();
    }
  });
})();
</script>
</body>
</html>`;
}

/** The legend: strongest negative to strongest positive, through the untinted dead zone. */
function legendCells(): string {
    const swatch = (cls: string, title: string): string => `<span class="sw ${cls}" title="${escapeHtml(title)}"></span>`;
    const range = (level: number): string => {
        const [lo, hi] = levelBounds(level);
        return `${Math.round(lo * 100)}–${Math.round(hi * 100)}% of the scale`;
    };
    const cells: string[] = [];
    for (let level = LEVELS; level >= 1; level--) {
        cells.push(swatch(`n${level}`, `negative, ${range(level)}`));
    }
    cells.push(swatch("z", `untinted: under ${Math.round(DEAD_ZONE * 100)}% of the scale`));
    for (let level = 1; level <= LEVELS; level++) {
        cells.push(swatch(`p${level}`, `positive, ${range(level)}`));
    }
    return cells.join("");
}

/** What the webview may send; anything else is ignored. */
export type MatrixMessage = { type: "focus"; target: number | null };

export function parseMatrixMessage(message: unknown): MatrixMessage | undefined {
    if (typeof message !== "object" || message === null) {
        return undefined;
    }
    const m = message as Record<string, unknown>;
    if (m.type !== "focus") {
        return undefined;
    }
    if (m.target === null) {
        return { type: "focus", target: null };
    }
    return typeof m.target === "number" && Number.isInteger(m.target) && m.target >= 0
        ? { type: "focus", target: m.target }
        : undefined;
}
