/**
 * The Compare With Previous panel: one webview, reused, showing the daemon's `tokenlight/diff` of
 * a range's previous result and its current one (the page itself is diffHtml.ts: strict CSP, no
 * script, escaped text).
 */
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import { diffHtml } from "./diffHtml";
import type { AttributeResult, DiffResult } from "./protocol";

export class DiffPanel implements vscode.Disposable {
    private panel: vscode.WebviewPanel | undefined;

    show(diff: DiffResult, a: AttributeResult, b: AttributeResult, where: string): void {
        if (this.panel === undefined) {
            const panel = vscode.window.createWebviewPanel(
                "tokenlight.diff",
                "Compare With Previous",
                { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
                // no script and no local resources: everything is in the HTML
                { enableScripts: false, localResourceRoots: [] },
            );
            panel.onDidDispose(() => {
                this.panel = undefined;
            });
            this.panel = panel;
        } else {
            this.panel.reveal(vscode.ViewColumn.Beside, true);
        }
        const nonce = randomBytes(16).toString("base64");
        this.panel.webview.html = diffHtml({ diff, a, b, where, cspSource: this.panel.webview.cspSource, nonce });
    }

    dispose(): void {
        this.panel?.dispose();
    }
}
