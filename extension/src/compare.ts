/**
 * The Compare Methods panel: one webview, reused, showing the daemon's `tokenlight/compare`
 * report. "Use this method" on a row (the recommended one is starred) hands the method id to
 * `onApply`, which makes it the setting and re-attributes the compared selection with it.
 */
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import { compareHtml, parseCompareMessage } from "./compareHtml";
import type { CompareResult } from "./protocol";
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

    show(report: CompareResult, origin: ComparedSelection): void {
        if (this.panel === undefined) {
            this.panel = vscode.window.createWebviewPanel(
                "tokenlight.compare",
                "Compare Methods",
                { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
                // No local resources at all: everything the page needs is in its HTML.
                { enableScripts: true, localResourceRoots: [] },
            );
            this.panel.onDidDispose(() => {
                this.panel = undefined;
                this.report = undefined;
                this.origin = undefined;
            });
            this.panel.webview.onDidReceiveMessage((message: unknown) => {
                const ran = (this.report?.methods ?? []).filter((m) => m.status === "ok").map((m) => m.id);
                const parsed = parseCompareMessage(message, ran);
                if (parsed !== undefined && this.origin !== undefined) {
                    this.onApply(parsed.method, this.origin);
                }
            });
        } else {
            this.panel.reveal(undefined, true);
        }
        this.report = report;
        this.origin = origin;
        this.panel.webview.html = compareHtml({
            report,
            cspSource: this.panel.webview.cspSource,
            nonce: randomBytes(16).toString("base64"),
        });
    }

    dispose(): void {
        this.panel?.dispose();
    }
}
