/**
 * Colours the tokens of every result on show. A fixed pool of decoration types (2 signs × LEVELS
 * levels) is created once per palette/theme and reused for every token of every editor, so no
 * decoration type is ever created per token (they are not garbage collected until disposed).
 */
import * as vscode from "vscode";
import { colourRanges, LEVELS, levelStyle, PALETTES, type Sign, type ThemeKind } from "./palette";
import type { Range, ResultStore, StoredResult } from "./results";
import type { Settings } from "./settings";
import { tokenView } from "./spanView";

const SIGNS: readonly Sign[] = ["negative", "positive"];

export function themeKind(kind: vscode.ColorThemeKind): ThemeKind {
    switch (kind) {
        case vscode.ColorThemeKind.Light:
            return "light";
        case vscode.ColorThemeKind.Dark:
            return "dark";
        case vscode.ColorThemeKind.HighContrast:
            return "highContrast";
        case vscode.ColorThemeKind.HighContrastLight:
            return "highContrastLight";
    }
}

function poolKey(sign: Sign, level: number): string {
    return `${sign}:${level}`;
}

function rangeKey(range: Range): string {
    return `${range.start.line}:${range.start.character}-${range.end.line}:${range.end.character}`;
}

function toVscodeRange(range: Range): vscode.Range {
    return new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
}

/** The words after a stale result: which model it came from (the daemon now holds another). */
export function staleLabel(stored: StoredResult): string | undefined {
    return stored.staleSince === undefined
        ? undefined
        : ` ⟲ stale: from ${stored.result.model.name} (now ${stored.staleSince}); run again`;
}

export class Decorations implements vscode.Disposable {
    private pool = new Map<string, vscode.TextEditorDecorationType>();
    /** A dashed frame round a stale result's selection; its words come per range (staleLabel). */
    private readonly stale = vscode.window.createTextEditorDecorationType({
        border: "1px dashed",
        borderColor: new vscode.ThemeColor("editorWarning.foreground"),
        borderRadius: "2px",
        after: { color: new vscode.ThemeColor("editorWarning.foreground"), fontStyle: "italic", margin: "0 0 0 1em" },
        rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    });

    constructor(
        private readonly settings: Settings,
        private readonly store: ResultStore,
    ) {
        this.rebuild();
    }

    /** Recreate the pool for the current palette and theme (the old types are disposed). */
    rebuild(): void {
        this.disposePool();
        const palette = PALETTES[this.settings.palette];
        const theme = themeKind(vscode.window.activeColorTheme.kind);
        for (const sign of SIGNS) {
            for (let level = 1; level <= LEVELS; level++) {
                const style = levelStyle(palette, theme, sign, level);
                this.pool.set(
                    poolKey(sign, level),
                    vscode.window.createTextEditorDecorationType({
                        backgroundColor: style.backgroundColor,
                        border: style.border,
                        borderRadius: "2px",
                        rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
                    }),
                );
            }
        }
        this.refresh();
    }

    /** Re-apply the colours in every visible editor (of `uri` only, when given). */
    refresh(uri?: string): void {
        for (const editor of vscode.window.visibleTextEditors) {
            const editorUri = editor.document.uri.toString();
            if (uri === undefined || editorUri === uri) {
                this.apply(editor);
            }
        }
    }

    private apply(editor: vscode.TextEditor): void {
        const buckets = new Map<string, vscode.DecorationOptions[]>();
        const stale: vscode.DecorationOptions[] = [];
        // Every live result of the document, each normalised on its own (their texts never overlap:
        // a new result replaces the ones it overlaps).
        for (const stored of this.store.forUri(editor.document.uri.toString())) {
            const label = staleLabel(stored);
            if (label !== undefined) {
                stale.push({ range: toVscodeRange(stored.selection), renderOptions: { after: { contentText: label } } });
            }
            // A result shown as spans colours its tokens only after a drill-down, inside that span.
            const view = tokenView(stored);
            if (view === undefined) {
                continue;
            }
            const coloured = colourRanges(
                view,
                this.settings.normalization,
                this.settings.normalizationScale,
                rangeKey,
                LEVELS,
                this.settings.specialTokensInScale,
            );
            for (const { range, colour } of coloured) {
                const key = poolKey(colour.sign, colour.level);
                const list = buckets.get(key) ?? [];
                // No hoverMessage: the hover (with the raw number) comes from the daemon.
                list.push({ range: toVscodeRange(range) });
                buckets.set(key, list);
            }
        }
        // Every pool type is set, empty ones too, so colours from a previous state disappear.
        for (const [key, type] of this.pool) {
            editor.setDecorations(type, buckets.get(key) ?? []);
        }
        editor.setDecorations(this.stale, stale);
    }

    private disposePool(): void {
        for (const type of this.pool.values()) {
            type.dispose();
        }
        this.pool = new Map();
    }

    dispose(): void {
        this.disposePool();
        this.stale.dispose();
    }
}
