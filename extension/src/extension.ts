/**
 * Activation: builds the parts, registers the commands and the events that tie them together,
 * starts the daemon. Nothing else lives here.
 */
import * as vscode from "vscode";
import { Daemon } from "./client";
import { COMMAND_IDS, type CommandName } from "./commandIds";
import { COMMANDS } from "./commands";
import { render, type Ctx } from "./context";
import { Decorations } from "./decorations";
import { Log, describeError } from "./log";
import { MatrixPanel } from "./matrix";
import * as proto from "./protocol";
import { onDidChangeInterpreter } from "./pythonExtension";
import { ResultStore } from "./results";
import { affectsRendering, needsRestart, SECTION, Settings } from "./settings";
import { StatusBar } from "./status";

let daemon: Daemon | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
    const settings = new Settings(() => vscode.workspace.getConfiguration(SECTION));
    const log = new Log();
    const store = new ResultStore();
    daemon = new Daemon(context.extensionPath, settings, log);
    const decorations = new Decorations(settings, store);
    const status = new StatusBar(settings);
    const matrix = new MatrixPanel(settings, (resultId, target) => {
        void vscode.commands.executeCommand(COMMAND_IDS.focusTarget, resultId, target);
    });
    const ctx: Ctx = { extension: context, settings, log, daemon, store, decorations, status, matrix };
    context.subscriptions.push(log, daemon, decorations, status, matrix);

    for (const name of Object.keys(COMMAND_IDS) as CommandName[]) {
        context.subscriptions.push(vscode.commands.registerCommand(COMMAND_IDS[name], COMMANDS[name](ctx)));
    }

    const running = daemon;
    context.subscriptions.push(
        vscode.workspace.onDidChangeTextDocument((event) => {
            const uri = event.document.uri.toString();
            const before = store.get(uri);
            const effect = store.applyChanges(uri, event.contentChanges);
            if (effect === "dropped") {
                matrix.drop(before?.result.id);
            }
            if (effect === "dropped" || effect === "shifted") {
                render(ctx, uri);
            }
        }),
        vscode.workspace.onDidCloseTextDocument((document) => {
            // The daemon drops a closed document's results; so do we.
            const uri = document.uri.toString();
            const before = store.get(uri);
            if (store.delete(uri)) {
                matrix.drop(before?.result.id);
                render(ctx, uri);
            }
        }),
        vscode.window.onDidChangeVisibleTextEditors(() => decorations.refresh()),
        vscode.window.onDidChangeActiveTextEditor(() => render(ctx)),
        vscode.window.onDidChangeActiveColorTheme(() => decorations.rebuild()),
        vscode.workspace.onDidChangeConfiguration((event) => {
            if (!event.affectsConfiguration(SECTION)) {
                return;
            }
            const affects = (section: string): boolean => event.affectsConfiguration(section);
            if (needsRestart(affects)) {
                void running.restart();
            } else {
                void running.pushSettings();
            }
            if (affectsRendering(affects)) {
                decorations.rebuild();
                render(ctx);
            }
            status.render();
        }),
        running.onDidLoseResults(() => {
            store.clear();
            matrix.drop(undefined);
            render(ctx);
        }),
        running.onDidChangeState((state) => {
            status.setDaemon(state, running.description);
            if (state === "running") {
                void showDaemonStatus(ctx);
            }
        }),
    );

    const interpreterWatch = await onDidChangeInterpreter(() => {
        // Only when the Python extension's choice is the one in use.
        if (settings.pythonPath === undefined && settings.serverAddress === undefined) {
            log.info("The Python extension's interpreter changed: restarting the daemon.");
            void running.restart();
        }
    }).catch((error: unknown) => {
        log.warn(`Watching the Python extension's interpreter: ${describeError(error)}`);
        return undefined;
    });
    if (interpreterWatch !== undefined) {
        context.subscriptions.push(interpreterWatch);
    }

    status.setDaemon(running.state, running.description);
    void running.restart();
}

/** Ask the fresh daemon which model it holds (it loads lazily: often none yet). */
async function showDaemonStatus(ctx: Ctx): Promise<void> {
    const client = ctx.daemon.running;
    if (client === undefined) {
        return;
    }
    try {
        const status = await client.sendRequest(proto.status, {});
        if (status.model !== null) {
            ctx.status.setModel({ name: status.model, device: status.device ?? "?", dtype: status.dtype ?? "?" });
        }
    } catch (error) {
        ctx.log.warn(`tokenlight/status: ${describeError(error)}`);
    }
}

export async function deactivate(): Promise<void> {
    await daemon?.stop();
    daemon = undefined;
}
