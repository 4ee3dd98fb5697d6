/**
 * The Attribution Matrix panel: one webview, reused, showing the current result as a source ×
 * target heatmap (and, when the result carries one, the per-layer view below it: setting
 * `tokenlight.perLayer`). A click on a cell or a target focuses that target in the editor.
 */
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import { matrixHtml, parseMatrixMessage } from "./matrixHtml";
import { PALETTES } from "./palette";
import type { StoredResult } from "./results";
import type { Settings } from "./settings";

export class MatrixPanel implements vscode.Disposable {
    private panel: vscode.WebviewPanel | undefined;
    private shown: StoredResult | undefined;

    constructor(
        private readonly settings: Settings,
        private readonly onFocus: (resultId: string, target: number | null) => void,
    ) {}

    show(stored: StoredResult): void {
        if (this.panel === undefined) {
            this.panel = vscode.window.createWebviewPanel(
                "tokenlight.matrix",
                "Attribution Matrix",
                { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
                // No local resources at all: everything the page needs is in its HTML.
                { enableScripts: true, localResourceRoots: [] },
            );
            this.panel.onDidDispose(() => {
                this.panel = undefined;
                this.shown = undefined;
            });
            this.panel.webview.onDidReceiveMessage((message: unknown) => {
                const parsed = parseMatrixMessage(message);
                if (parsed !== undefined && this.shown !== undefined) {
                    this.onFocus(this.shown.result.id, parsed.target);
                }
            });
        } else {
            this.panel.reveal(undefined, true);
        }
        this.render(stored);
    }

    /** Re-render if the panel is open and shows this result (focus or settings changed). */
    update(stored: StoredResult | undefined): void {
        if (this.panel === undefined || this.shown === undefined) {
            return;
        }
        if (stored !== undefined && stored.result.id === this.shown.result.id) {
            this.render(stored);
        }
    }

    /** The result died (cleared, edited, daemon restarted): say so instead of showing stale data. */
    drop(resultId: string | undefined): void {
        if (this.panel === undefined || this.shown === undefined) {
            return;
        }
        if (resultId === undefined || resultId === this.shown.result.id) {
            this.shown = undefined;
            this.panel.webview.html = "<!DOCTYPE html><html><body><p>This attribution is no longer available.</p></body></html>";
        }
    }

    get shownId(): string | undefined {
        return this.shown?.result.id;
    }

    private render(stored: StoredResult): void {
        if (this.panel === undefined) {
            return;
        }
        this.shown = stored;
        this.panel.title = `Attribution Matrix (${stored.result.method})`;
        this.panel.webview.html = matrixHtml({
            result: stored.result,
            focus: stored.focus,
            palette: PALETTES[this.settings.palette],
            normalization: this.settings.normalization,
            fixedScale: this.settings.normalizationScale,
            specialsInScale: this.settings.specialTokensInScale,
            cspSource: this.panel.webview.cspSource,
            nonce: randomBytes(16).toString("base64"),
        });
    }

    dispose(): void {
        this.panel?.dispose();
    }
}
