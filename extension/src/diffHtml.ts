/**
 * The Compare With Previous page, pure (no `vscode`): the daemon's `tokenlight/diff` of the previous
 * result of a range (A) and the current one (B), per aligned target the tokens whose score changed
 * most with A, B and B − A, and the tokens found in one result only. Every token text is escaped
 * and made visible; the page runs no script.
 */
import { escapeHtml, visibleToken } from "./matrixHtml";
import { signed, webviewPage } from "./webviewPage";
import type { AttributeResult, DiffResult } from "./protocol";

/** How many changed tokens each target lists (largest |B − A| first). */
export const DIFF_ROWS = 12;

export interface DiffRow {
    text: string;
    a: number | null;
    b: number | null;
    difference: number;
}

/**
 * Per aligned target of the daemon's diff: the aligned columns with a difference, largest |B − A|
 * first, each with its score in A and in B (read from the two results by the indices the daemon
 * aligned), at most `limit` of them.
 */
export function changedTokens(d: DiffResult, a: AttributeResult, b: AttributeResult, limit = DIFF_ROWS): DiffRow[][] {
    const columns = [
        ...d.sourceTokens.map((t) => ({ text: t.text, colA: t.indexA, colB: t.indexB })),
        ...d.targetTokens.map((t) => ({
            text: t.text,
            colA: a.sourceTokens.length + t.indexA,
            colB: b.sourceTokens.length + t.indexB,
        })),
    ];
    return d.targetTokens.map((target, r) => {
        const rows: DiffRow[] = [];
        (d.scores[r] ?? []).forEach((difference, c) => {
            if (difference === null || difference === 0 || columns[c] === undefined) {
                return;
            }
            const { text, colA, colB } = columns[c];
            rows.push({
                text,
                a: a.scores[target.indexA]?.[colA] ?? null,
                b: b.scores[target.indexB]?.[colB] ?? null,
                difference,
            });
        });
        return rows.sort((x, y) => Math.abs(y.difference) - Math.abs(x.difference)).slice(0, limit);
    });
}

function tokenList(tokens: readonly { text: string }[]): string {
    return tokens.length === 0
        ? "none"
        : tokens.map((t) => `<code>${escapeHtml(visibleToken(t.text))}</code>`).join(" ");
}

export function diffHtml({
    diff: d,
    a,
    b,
    where,
    cspSource,
    nonce,
}: {
    diff: DiffResult;
    a: AttributeResult;
    b: AttributeResult;
    where: string;
    cspSource: string;
    nonce: string;
}): string {
    const side = (s: { method: string | null; stepFunction: string | null }): string =>
        escapeHtml(`${s.method ?? "?"} / ${s.stepFunction ?? "?"}`);
    const sections = changedTokens(d, a, b)
        .map((rows, r) => {
            const body =
                rows.length === 0
                    ? `<p>No aligned token's score changed.</p>`
                    : `<table><thead><tr><th>token</th><th>previous (A)</th><th>now (B)</th><th>B − A</th></tr></thead><tbody>` +
                      rows
                          .map(
                              (row) =>
                                  `<tr><td>${escapeHtml(visibleToken(row.text))}</td><td>${signed(row.a)}</td>` +
                                  `<td>${signed(row.b)}</td><td>${signed(row.difference)}</td></tr>`,
                          )
                          .join("") +
                      `</tbody></table>`;
            return `<h2>Target ${r + 1} <code>${escapeHtml(visibleToken(d.targetTokens[r].text))}</code></h2>${body}`;
        })
        .join("");
    return webviewPage({
        title: "Compare With Previous",
        cspSource,
        nonce,
        css: `th:first-child, td:first-child { text-align: left; white-space: pre; }
code { white-space: pre; }`,
        body: `<p>${escapeHtml(where)}: previous result (A: ${side(d.a)}) → now (B: ${side(d.b)}).
${d.sourceTokens.length} source and ${d.targetTokens.length} target tokens aligned by their text; largest |B − A| = ${Number.isFinite(d.maxAbsDifference) ? d.maxAbsDifference.toPrecision(4) : "—"}.</p>
<p>Only in the previous result: sources ${tokenList(d.onlyInA.sources)}; targets ${tokenList(d.onlyInA.targets)}.<br>
Only in the current result: sources ${tokenList(d.onlyInB.sources)}; targets ${tokenList(d.onlyInB.targets)}.</p>
${sections}`,
    });
}
