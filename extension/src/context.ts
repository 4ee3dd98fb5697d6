/**
 * What commands work with: the long-lived parts of the extension, and the two helpers every
 * command shares (re-render what is on show; get the client, or say clearly why there is none).
 */
import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";
import type { DaemonClient } from "./client";
import type { Decorations } from "./decorations";
import type { ComparePanel } from "./compare";
import type { DiffPanel } from "./diffView";
import type { Log } from "./log";
import type { MatrixPanel } from "./matrix";
import type { ResultStore, StoredResult } from "./results";
import type { ResultsView } from "./resultsView";
import type { Settings } from "./settings";
import type { SpanDecorations } from "./spans";
import type { StatusBar } from "./status";

export interface Ctx {
    readonly extension: vscode.ExtensionContext;
    readonly settings: Settings;
    readonly log: Log;
    readonly daemon: DaemonClient;
    readonly store: ResultStore;
    readonly decorations: Decorations;
    readonly spans: SpanDecorations;
    readonly status: StatusBar;
    readonly matrix: MatrixPanel;
    readonly resultsView: ResultsView;
    readonly compare: ComparePanel;
    readonly diff: DiffPanel;
}

export function activeUri(): string | undefined {
    return vscode.window.activeTextEditor?.document.uri.toString();
}

/**
 * The result a command acts on: the one under the cursor in the active editor, else the active
 * document's most recent, else the most recent anywhere.
 */
export function currentResult(ctx: Ctx): StoredResult | undefined {
    const editor = vscode.window.activeTextEditor;
    return ctx.store.current(editor?.document.uri.toString(), editor?.selection.active);
}

/** The result the active editor's status bar tooltip describes (none from another document). */
export function shownResult(ctx: Ctx): StoredResult | undefined {
    const stored = currentResult(ctx);
    return stored !== undefined && stored.uri === activeUri() ? stored : undefined;
}

/** Re-colour editors (of `uri`, or all), and bring the status bar and the matrix up to date. */
export function render(ctx: Ctx, uri?: string): void {
    ctx.decorations.refresh(uri);
    ctx.spans.refresh(uri);
    ctx.status.setShown(shownResult(ctx));
    ctx.resultsView.refresh();
    const onShow = ctx.matrix.shownId;
    if (onShow !== undefined) {
        const stored = ctx.store.byId(onShow);
        if (stored === undefined) {
            ctx.matrix.drop(onShow);
        } else {
            ctx.matrix.update(stored);
        }
    }
}

/**
 * The language client while the daemon runs; otherwise undefined, after telling the user why and
 * offering the way out (a command never throws because the daemon is down). The first command
 * that needs the daemon starts it (activation does not); a start in progress is waited for.
 */
export async function requireClient(ctx: Ctx): Promise<LanguageClient | undefined> {
    const justStarted = await ctx.daemon.ensureStarted();
    const client = ctx.daemon.running;
    if (client !== undefined) {
        return client;
    }
    const state = ctx.daemon.state;
    if (justStarted && state === "failed") {
        return undefined; // the failed start has just said why, with what to check
    }
    const message =
        state === "starting"
            ? "Tokenlight: the daemon is still starting; try again in a moment."
            : `Tokenlight: the daemon is not running (${state}). Run "Tokenlight: Restart Daemon", or see the log for why.`;
    void vscode.window.showWarningMessage(message, "Restart Daemon", "Show Log").then((choice) => {
        if (choice === "Restart Daemon") {
            void ctx.daemon.restart();
        } else if (choice === "Show Log") {
            ctx.log.show();
        }
    });
    return undefined;
}
