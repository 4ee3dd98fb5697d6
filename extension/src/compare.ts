/**
 * The Compare Methods panel: one webview, reused, showing the daemon's `tokenlight/compare`
 * report. "Use this method" on a row (the recommended one is starred) hands the method id to
 * `onApply`, which makes it the setting and re-attributes the compared selection with it.
 */
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import { againstHtml, compareHtml, parseCompareMessage } from "./compareHtml";
import type { AgainstResult, CompareResult } from "./protocol";
import type { Range, StoredResult } from "./results";

/** What was compared: where, and the request every method ran with. */
export interface ComparedSelection {
    uri: string;
    selection: Range;
    request: StoredResult["request"];
}

export class ComparePanel implements vscode.Disposable {
    private panel: vscode.WebviewPanel | undefined;
    private report: CompareResult | undefined;
    private origin: ComparedSelection | undefined;

    constructor(private readonly onApply: (method: string, origin: ComparedSelection) => void) {}

    /** The compare table and curves; "Use this method" applies to `origin`. */
    show(report: CompareResult, origin: ComparedSelection): void {
        const panel = this.reveal("Compare Methods");
        this.report = report;
        this.origin = origin;
        panel.webview.html = compareHtml({ report, cspSource: panel.webview.cspSource, nonce: nonce() });
    }

    /** Two inputs side by side (the same panel; nothing to apply). */
    showAgainst(report: AgainstResult): void {
        const panel = this.reveal("Two Inputs");
        this.report = undefined;
        this.origin = undefined;
        panel.webview.html = againstHtml({ report, cspSource: panel.webview.cspSource, nonce: nonce() });
    }

    private reveal(title: string): vscode.WebviewPanel {
        if (this.panel === undefined) {
            const panel = vscode.window.createWebviewPanel(
                "tokenlight.compare",
                title,
                { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
                // No local resources at all: everything the page needs is in its HTML.
                { enableScripts: true, localResourceRoots: [] },
            );
            panel.onDidDispose(() => {
                this.panel = undefined;
                this.report = undefined;
                this.origin = undefined;
            });
            panel.webview.onDidReceiveMessage((message: unknown) => {
                const ran = (this.report?.methods ?? []).filter((m) => m.status === "ok").map((m) => m.id);
                const parsed = parseCompareMessage(message, ran);
                if (parsed !== undefined && this.origin !== undefined) {
                    this.onApply(parsed.method, this.origin);
                }
            });
            this.panel = panel;
        } else {
            this.panel.reveal(undefined, true);
        }
        this.panel.title = title;
        return this.panel;
    }

    dispose(): void {
        this.panel?.dispose();
    }
}

function nonce(): string {
    return randomBytes(16).toString("base64");
}
