/**
 * What commands work with: the long-lived parts of the extension, and the two helpers every
 * command shares (re-render what is on show; get the client, or say clearly why there is none).
 */
import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";
import type { Daemon } from "./client";
import type { Decorations } from "./decorations";
import type { Log } from "./log";
import type { MatrixPanel } from "./matrix";
import type { ResultStore } from "./results";
import type { Settings } from "./settings";
import type { StatusBar } from "./status";

export interface Ctx {
    readonly extension: vscode.ExtensionContext;
    readonly settings: Settings;
    readonly log: Log;
    readonly daemon: Daemon;
    readonly store: ResultStore;
    readonly decorations: Decorations;
    readonly status: StatusBar;
    readonly matrix: MatrixPanel;
}

export function activeUri(): string | undefined {
    return vscode.window.activeTextEditor?.document.uri.toString();
}

/** Re-colour editors (of `uri`, or all), and bring the status bar and the matrix up to date. */
export function render(ctx: Ctx, uri?: string): void {
    ctx.decorations.refresh(uri);
    const active = activeUri();
    ctx.status.setShown(active === undefined ? undefined : ctx.store.get(active));
    ctx.matrix.update(ctx.store.current(active));
}

/**
 * The language client while the daemon runs; otherwise undefined, after telling the user why and
 * offering the way out (a command never throws because the daemon is down). A start in progress
 * is waited for: the first command is what activates the extension and starts the daemon.
 */
export async function requireClient(ctx: Ctx): Promise<LanguageClient | undefined> {
    await ctx.daemon.settled();
    const client = ctx.daemon.running;
    if (client !== undefined) {
        return client;
    }
    const state = ctx.daemon.state;
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
