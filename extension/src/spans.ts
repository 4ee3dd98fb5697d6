/**
 * Spans in the editor: a heat strip for every line of a result with spans (a coloured left border
 * and the overview ruler), the share of the top spans at the end of their first line
 * ("def parse_args — 31%"), and a hover on any span with its share and its top tokens. A click on
 * a span's CodeLens (or the hover's "Show tokens in this span") drills down: the token colours of
 * that span only (decorations.ts, through spanView's tokenView); its lens then leads back.
 *
 * The numbers come from the daemon (`spans` of `tokenlight/attribute`); this file only decides
 * what to draw. The pure functions are in spanView.ts (unit-tested); this class applies them. Colours
 * reuse the palette's levels (one pooled decoration type per sign × level, as decorations.ts).
 */
import * as vscode from "vscode";
import { COMMAND_IDS } from "./commandIds";
import {
    drilledSpan,
    lineHeat,
    shareLabel,
    showsSpans,
    spanAt,
    spanHoverMarkdown,
    spanLines,
    spanShares,
    TOP_SPANS,
    topSpans,
} from "./spanView";
import { LEVELS, levelStyle, PALETTES, quantise, type Sign } from "./palette";
import { themeKind } from "./decorations";
import type { ResultStore } from "./results";
import type { Settings } from "./settings";

function poolKey(sign: Sign, level: number): string {
    return `${sign}:${level}`;
}

/** Draws spans in every visible editor from the store. */
export class SpanDecorations implements vscode.Disposable, vscode.CodeLensProvider {
    private pool = new Map<string, vscode.TextEditorDecorationType>();
    private readonly shares: vscode.TextEditorDecorationType;
    private readonly lensesChanged = new vscode.EventEmitter<void>();
    readonly onDidChangeCodeLenses = this.lensesChanged.event;

    constructor(
        private readonly settings: Settings,
        private readonly store: ResultStore,
    ) {
        this.shares = vscode.window.createTextEditorDecorationType({
            after: { color: new vscode.ThemeColor("editorCodeLens.foreground"), margin: "0 0 0 2em" },
        });
        this.rebuild();
    }

    /** Recreate the heat pool for the current palette and theme. */
    rebuild(): void {
        this.disposePool();
        const palette = PALETTES[this.settings.palette];
        const theme = themeKind(vscode.window.activeColorTheme.kind);
        for (const sign of ["negative", "positive"] as const) {
            for (let level = 1; level <= LEVELS; level++) {
                const colour = levelStyle(palette, theme, sign, level).backgroundColor;
                this.pool.set(
                    poolKey(sign, level),
                    vscode.window.createTextEditorDecorationType({
                        isWholeLine: true,
                        borderColor: colour,
                        borderStyle: "solid",
                        borderWidth: "0 0 0 4px",
                        overviewRulerColor: colour,
                        overviewRulerLane: vscode.OverviewRulerLane.Left,
                    }),
                );
            }
        }
        this.refresh();
    }

    refresh(uri?: string): void {
        for (const editor of vscode.window.visibleTextEditors) {
            if (uri === undefined || editor.document.uri.toString() === uri) {
                this.apply(editor);
            }
        }
        this.lensesChanged.fire();
    }

    /**
     * The clickable part of the span view: above each top span's first line, "Show tokens" (the
     * drill-down); on a drilled span, the way back to the span view.
     */
    provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
        const lenses: vscode.CodeLens[] = [];
        for (const stored of this.store.forUri(document.uri.toString())) {
            if (!showsSpans(stored)) {
                continue;
            }
            const spans = stored.result.spans ?? [];
            const id = stored.result.id;
            const drilled = drilledSpan(stored);
            // a lens sits above the span's first line
            const at = (i: number): vscode.Range | undefined => {
                const lines = spanLines(spans[i]);
                if (lines === undefined || lines[0] >= document.lineCount) {
                    return undefined;
                }
                return new vscode.Range(lines[0], 0, lines[0], 0);
            };
            if (drilled !== undefined) {
                const range = at(drilled);
                if (range !== undefined) {
                    lenses.push(
                        new vscode.CodeLens(range, {
                            title: `$(arrow-left) Back to the span view (tokens of ${spans[drilled].label})`,
                            command: COMMAND_IDS.showSpans,
                            arguments: [id],
                        }),
                    );
                }
                continue;
            }
            const shares = spanShares(spans, stored.focus);
            for (const i of topSpans(spans, stored.focus, TOP_SPANS)) {
                const range = at(i);
                if (range !== undefined) {
                    lenses.push(
                        new vscode.CodeLens(range, {
                            title: `$(search) Show tokens: ${shareLabel(spans[i], shares[i])}`,
                            command: COMMAND_IDS.drillDown,
                            arguments: [id, i],
                        }),
                    );
                }
            }
        }
        return lenses;
    }

    private apply(editor: vscode.TextEditor): void {
        const buckets = new Map<string, vscode.DecorationOptions[]>();
        const labels: vscode.DecorationOptions[] = [];
        for (const stored of this.store.forUri(editor.document.uri.toString())) {
            const spans = stored.result.spans ?? [];
            if (spans.length === 0) {
                continue;
            }
            const heat = lineHeat(spans, stored.focus);
            const scale = Math.max(0, ...[...heat.values()].map(Math.abs));
            for (const [line, value] of heat) {
                const q = quantise(value, scale);
                if (q === undefined || line >= editor.document.lineCount) {
                    continue;
                }
                const key = poolKey(q.sign, q.level);
                const list = buckets.get(key) ?? [];
                list.push({ range: new vscode.Range(line, 0, line, 0) });
                buckets.set(key, list);
            }
            const shares = spanShares(spans, stored.focus);
            for (const i of topSpans(spans, stored.focus, TOP_SPANS)) {
                const lines = spanLines(spans[i]);
                if (lines === undefined || lines[0] >= editor.document.lineCount) {
                    continue;
                }
                const end = editor.document.lineAt(lines[0]).range.end;
                labels.push({
                    range: new vscode.Range(end, end),
                    renderOptions: { after: { contentText: shareLabel(spans[i], shares[i]) } },
                });
            }
        }
        for (const [key, type] of this.pool) {
            editor.setDecorations(type, buckets.get(key) ?? []);
        }
        editor.setDecorations(this.shares, labels);
    }

    /** A hover for the span under the cursor (the daemon's own hover covers single tokens). */
    provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
        for (const stored of this.store.forUri(document.uri.toString())) {
            const index = spanAt(stored, position.line, position.character);
            if (index !== undefined) {
                const span = (stored.result.spans ?? [])[index];
                if (span.kind === "token" || span.kind === "special") {
                    return undefined;
                }
                const markdown = new vscode.MarkdownString(spanHoverMarkdown(stored, index));
                // only the drill-down links may run, nothing else a label could smuggle in
                markdown.isTrusted = { enabledCommands: [COMMAND_IDS.drillDown, COMMAND_IDS.showSpans] };
                return new vscode.Hover(markdown);
            }
        }
        return undefined;
    }

    private disposePool(): void {
        for (const type of this.pool.values()) {
            type.dispose();
        }
        this.pool = new Map();
    }

    dispose(): void {
        this.disposePool();
        this.shares.dispose();
        this.lensesChanged.dispose();
    }
}
