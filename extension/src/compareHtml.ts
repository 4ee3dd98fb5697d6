/**
 * The Compare Methods webview's HTML, pure (unit-tested for escaping and CSP), in the matrix
 * webview's manner: every string from the daemon escaped here, a CSP that allows only a nonce'd
 * style and script, theme colours through VS Code's CSS variables. The table is
 * method · faithfulness · agreement · cost · converged?, the curves are inline SVG, and the one
 * script turns the "Use this method" button into a `{type: "apply", method}` message.
 */
import { escapeHtml, visibleToken } from "./matrixHtml";
import { signed, webviewPage } from "./webviewPage";
import type { AgainstResult, CompareMethodRow, CompareResult } from "./protocol";

export interface CompareInput {
    report: CompareResult;
    cspSource: string;
    nonce: string;
}

const WIDTH = 420;
const HEIGHT = 220;
const PAD = 40;
// Okabe–Ito: distinguishable with every common colour-vision deficiency, on light and dark themes.
const SERIES = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#999999"];

function num(value: number | null | undefined, digits = 3): string {
    return value === null || value === undefined || !Number.isFinite(value) ? "—" : value.toFixed(digits);
}

function converged(value: boolean | null | undefined): string {
    return value === true ? "yes" : value === false ? "NO" : "no delta";
}

/** Mean Spearman ρ of `id` with every other method that has a number. */
function meanAgreement(report: CompareResult, id: string): number | null {
    const values = report.agreement
        .filter((p) => (p.a === id || p.b === id) && p.spearman !== null)
        .map((p) => p.spearman as number);
    return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/** A line plot of each method's deletion curve (summed over targets), axes labelled. */
export function curvesSvg(fractions: number[], rows: CompareMethodRow[], curve: "deletion" | "insertion"): string {
    const series = rows.filter((r) => r.status === "ok" && r[curve] !== undefined && r[curve].length === fractions.length);
    const values = series.flatMap((r) => r[curve] as number[]);
    const lo = values.length ? Math.min(...values) : 0;
    let hi = values.length ? Math.max(...values) : 1;
    if (hi === lo) {
        hi = lo + 1;
    }
    const x = (f: number) => PAD + f * (WIDTH - 2 * PAD);
    const y = (v: number) => HEIGHT - PAD - ((v - lo) / (hi - lo)) * (HEIGHT - 2 * PAD);
    const parts = [
        `<svg width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${curve} curves">`,
        `<line class="axis" x1="${PAD}" y1="${HEIGHT - PAD}" x2="${WIDTH - PAD}" y2="${HEIGHT - PAD}"/>`,
        `<line class="axis" x1="${PAD}" y1="${PAD}" x2="${PAD}" y2="${HEIGHT - PAD}"/>`,
        `<text x="${WIDTH / 2}" y="${HEIGHT - 8}" text-anchor="middle">fraction ${curve === "deletion" ? "removed" : "restored"}</text>`,
        `<text x="${PAD - 4}" y="${PAD}" text-anchor="end">${escapeHtml(hi.toPrecision(3))}</text>`,
        `<text x="${PAD - 4}" y="${HEIGHT - PAD}" text-anchor="end">${escapeHtml(lo.toPrecision(3))}</text>`,
    ];
    series.forEach((row, n) => {
        const ys = row[curve] as number[];
        const points = fractions.map((f, i) => `${x(f).toFixed(1)},${y(ys[i]).toFixed(1)}`).join(" ");
        parts.push(`<polyline class="s${n % SERIES.length}" points="${points}"/>`);
        parts.push(
            `<text class="l${n % SERIES.length}" x="${WIDTH - PAD}" y="${PAD + 13 * n}" text-anchor="end">${escapeHtml(row.id)}</text>`,
        );
    });
    parts.push("</svg>");
    return parts.join("");
}

function seriesRules(): string {
    return SERIES.map(
        (colour, n) => `.s${n} { fill: none; stroke: ${colour}; stroke-width: 2; } .l${n} { fill: ${colour}; }`,
    ).join("\n");
}

export function compareHtml({ report, cspSource, nonce }: CompareInput): string {
    const rows = report.methods
        .map((m) => {
            if (m.status !== "ok") {
                return (
                    `<tr class="refused"><td>${escapeHtml(m.id)}</td>` +
                    `<td colspan="7">${escapeHtml(m.status)}: ${escapeHtml(m.reason ?? "")}</td></tr>`
                );
            }
            const recommended = m.id === report.recommendation.method;
            return (
                `<tr${recommended ? ' class="recommended"' : ""}><td>${escapeHtml(m.label ?? m.id)}` +
                `${recommended ? " ★" : ""}</td>` +
                `<td>${num(m.deletionAuc)}</td><td>${num(m.randomDeletionAuc)}</td>` +
                `<td>${num(m.insertionAuc)}</td><td>${num(meanAgreement(report, m.id), 2)}</td>` +
                `<td>${num(m.seconds, 2)} s</td><td>${escapeHtml(converged(m.converged))}</td>` +
                `<td><button data-method="${escapeHtml(m.id)}">Use this method</button></td></tr>`
            );
        })
        .join("");
    const rec = report.recommendation;
    const verdict =
        rec.method === null
            ? `<p>No recommendation: ${escapeHtml(rec.reason)}</p>`
            : `<p class="verdict">Recommended: <strong>${escapeHtml(rec.label ?? rec.method)}</strong> (${escapeHtml(rec.reason)})</p>`;
    const targets = report.targetTokens.map((t) => `<code>${escapeHtml(visibleToken(t))}</code>`).join(" ");
    const plots =
        report.fractions === null
            ? ""
            : `<div class="plots">${curvesSvg(report.fractions, report.methods, "deletion")}` +
              `${curvesSvg(report.fractions, report.methods, "insertion")}</div>`;
    return webviewPage({
        title: "Compare Methods",
        cspSource,
        nonce,
        css: `th:first-child, td:first-child { text-align: left; }
tr.recommended td { font-weight: 600; }
tr.refused td { opacity: .75; text-align: left; }
svg text { fill: var(--vscode-foreground); font-size: 11px; }
.axis { stroke: var(--vscode-foreground); }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; margin-top: 1rem; }
button { color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 2px 8px; cursor: pointer; }
${seriesRules()}`,
        body: `<p>Targets: ${targets}</p>
${verdict}
<table id="methods">
<thead><tr><th>method</th><th>deletion AUC</th><th>random</th><th>insertion AUC</th><th>agreement ρ</th><th>cost</th><th>converged?</th><th></th></tr></thead>
<tbody>${rows}</tbody>
</table>
<p>AUCs are normalised: 1 is ideal, a straight line about 0.5; "random" is the mean over seeded random orders.
Agreement: mean Spearman ρ with the other methods over the source tokens.</p>
${plots}`,
        script: `(function () {
  const vscode = acquireVsCodeApi();
  document.getElementById("methods").addEventListener("click", function (event) {
    const button = event.target instanceof Element ? event.target.closest("button[data-method]") : null;
    if (button) {
      vscode.postMessage({ type: "apply", method: button.getAttribute("data-method") });
    }
  });
})();`,
    });
}

/** What the webview may send; anything else is ignored. */
export type CompareMessage = { type: "apply"; method: string };

export function parseCompareMessage(message: unknown, known: readonly string[]): CompareMessage | undefined {
    if (typeof message !== "object" || message === null) {
        return undefined;
    }
    const m = message as Record<string, unknown>;
    return m.type === "apply" && typeof m.method === "string" && known.includes(m.method)
        ? { type: "apply", method: m.method }
        : undefined;
}

/**
 * Two inputs side by side for one target: per target, each aligned token's score on both sides
 * and B − A; the largest |B − A| of each target is marked. No script at all.
 */
export function againstHtml({ report, cspSource, nonce }: { report: AgainstResult; cspSource: string; nonce: string }): string {
    const sections = report.targetTokens
        .map((target, t) => {
            const diffs = report.aligned.map((r) => (r.difference === null ? 0 : Math.abs(r.difference[t])));
            const largest = diffs.indexOf(Math.max(...diffs));
            const rows = report.aligned
                .map((r, i) => {
                    const text =
                        r.textB !== null && r.a !== null && r.textB !== r.text
                            ? `${visibleToken(r.text)} → ${visibleToken(r.textB)}`
                            : visibleToken(r.text);
                    return (
                        `<tr${i === largest && diffs[i] > 0 ? ' class="largest"' : ""}><td>${escapeHtml(text)}</td>` +
                        `<td>${signed(r.scoresA?.[t])}</td><td>${signed(r.scoresB?.[t])}</td>` +
                        `<td>${signed(r.difference?.[t])}</td></tr>`
                    );
                })
                .join("");
            return (
                `<h2>Target ${t + 1} <code>${escapeHtml(visibleToken(target))}</code></h2>` +
                `<table><thead><tr><th>token (A → B)</th><th>A</th><th>B</th><th>B − A</th></tr></thead><tbody>${rows}</tbody></table>`
            );
        })
        .join("");
    return webviewPage({
        title: "Two Inputs",
        cspSource,
        nonce,
        css: `th:first-child, td:first-child { text-align: left; white-space: pre; }
tr.largest td { font-weight: 700; }`,
        body: `<p>${escapeHtml(report.method)}; target: ${escapeHtml(report.target)}. The row in bold is the largest |B − A| of each target.</p>
${sections}`,
    });
}
