/**
 * Activation (`onStartupFinished`, or a command): builds the parts, registers the commands and the
 * events that tie them together, and shows the status bar item. It starts nothing: the daemon is
 * spawned (and the Python extension asked for its interpreter) by the first command that needs
 * it. Nothing else lives here.
 */
import * as vscode from "vscode";
import { DaemonClient } from "./client";
import { COMMAND_IDS, type CommandName } from "./commandIds";
import { applyComparedMethod, COMMANDS, restoreResults, type ClosedResults } from "./commands";
import { render, shownResult, type Ctx } from "./context";
import { DaemonLease } from "./daemonLease";
import { Decorations } from "./decorations";
import { SpanDecorations } from "./spans";
import { reportLegacyToken } from "./legacyToken";
import { Log, describeError } from "./log";
import { ComparePanel } from "./compare";
import { DiffPanel } from "./diffView";
import { MatrixPanel } from "./matrix";
import * as proto from "./protocol";
import { onDidChangeInterpreter } from "./pythonExtension";
import { SECRET_KEY } from "./remoteToken";
import { ResultStore } from "./results";
import { ResultsView } from "./resultsView";
import { affectsRendering, needsRestart, SECTION, Settings } from "./settings";
import { legendMarkdown, StatusBar } from "./status";

let daemon: DaemonClient | undefined;

/** Closed documents' results, by uri, most recently closed last (at most MAX_CLOSED documents). */
const closed = new Map<string, ClosedResults>();
const MAX_CLOSED = 32;

function rememberClosed(uri: string, results: ClosedResults): void {
    closed.delete(uri);
    closed.set(uri, results);
    while (closed.size > MAX_CLOSED) {
        const oldest = closed.keys().next().value;
        if (oldest === undefined) {
            break;
        }
        closed.delete(oldest);
    }
}

export function activate(context: vscode.ExtensionContext): void {
    const settings = new Settings(() => vscode.workspace.getConfiguration(SECTION));
    const log = new Log();
    const store = new ResultStore();
    // The lease lives in the workspace's storage (every window of one workspace shares it).
    const leaseDir = (context.storageUri ?? context.globalStorageUri).fsPath;
    daemon = new DaemonClient(context.extensionPath, settings, log, context.secrets, new DaemonLease(leaseDir));
    const decorations = new Decorations(settings, store);
    const spans = new SpanDecorations(settings, store);
    const status = new StatusBar(settings);
    const matrix = new MatrixPanel(settings, (resultId, target) => {
        void vscode.commands.executeCommand(COMMAND_IDS.focusTarget, resultId, target);
    });
    daemon.hoverLegend = () => {
        const legend = new vscode.MarkdownString(legendMarkdown(settings));
        legend.supportHtml = true;
        return legend;
    };
    const resultsView = new ResultsView(store);
    // the callback runs on a click, long after ctx exists
    const compare = new ComparePanel((method, origin) => void applyComparedMethod(ctx, method, origin));
    const diff = new DiffPanel();
    const ctx: Ctx = { extension: context, settings, log, daemon, store, decorations, spans, status, matrix, resultsView, compare, diff };
    context.subscriptions.push(log, daemon, decorations, spans, status, matrix, resultsView, compare, diff);
    context.subscriptions.push(
        vscode.languages.registerHoverProvider({ pattern: "**" }, { provideHover: (d, p) => spans.provideHover(d, p) }),
        vscode.languages.registerCodeLensProvider({ pattern: "**" }, spans),
    );

    for (const name of Object.keys(COMMAND_IDS) as CommandName[]) {
        context.subscriptions.push(vscode.commands.registerCommand(COMMAND_IDS[name], COMMANDS[name](ctx)));
    }

    const running = daemon;
    context.subscriptions.push(
        vscode.workspace.onDidChangeTextDocument((event) => {
            // Each result moves with edits before it and is dropped when its text is edited, as
            // in the daemon (which drops its hints, hovers and diagnostics at the same edit).
            const uri = event.document.uri.toString();
            const { dropped, shifted } = store.applyChanges(uri, event.contentChanges);
            if (dropped.length > 0 || shifted) {
                render(ctx, uri);
            }
        }),
        vscode.workspace.onDidCloseTextDocument((document) => {
            // The daemon drops a closed document's results; so do we, remembering what was asked
            // so that reopening the same text brings them back.
            const uri = document.uri.toString();
            const results = store.deleteUri(uri);
            if (results.length > 0) {
                rememberClosed(uri, {
                    text: document.getText(),
                    requests: results.map((stored) => ({ selection: stored.selection, request: stored.request })),
                });
                render(ctx, uri);
            }
        }),
        vscode.workspace.onDidOpenTextDocument((document) => {
            const uri = document.uri.toString();
            const saved = closed.get(uri);
            if (saved === undefined) {
                return;
            }
            closed.delete(uri);
            if (document.getText() === saved.text) {
                log.info(`${uri} reopened unchanged: restoring its ${saved.requests.length} attribution(s).`);
                void restoreResults(ctx, uri, saved);
            } else {
                void vscode.window.showInformationMessage(
                    `Tokenlight: the attributions of ${document.uri.path.split("/").pop() ?? uri} were cleared: ` +
                        "its text changed while it was closed. Run Attribute Continuation again.",
                );
            }
        }),
        vscode.window.onDidChangeVisibleTextEditors(() => {
            decorations.refresh();
            spans.refresh();
        }),
        vscode.window.onDidChangeActiveTextEditor(() => render(ctx)),
        vscode.window.onDidChangeTextEditorSelection((event) => {
            // The tooltip describes the result under the cursor.
            if (store.forUri(event.textEditor.document.uri.toString()).length > 1) {
                status.setShown(shownResult(ctx));
            }
        }),
        vscode.window.onDidChangeActiveColorTheme(() => {
            decorations.rebuild();
            spans.rebuild();
        }),
        context.secrets.onDidChange((event) => {
            if (event.key === SECRET_KEY && settings.serverAddress !== undefined) {
                void running.restartIfStarted();
            }
        }),
        // Trusting the workspace makes its interpreters eligible (python.ts): look again.
        vscode.workspace.onDidGrantWorkspaceTrust(() => {
            if (settings.serverAddress === undefined) {
                void running.restartIfStarted();
            }
        }),
        vscode.workspace.onDidChangeConfiguration((event) => {
            if (!event.affectsConfiguration(SECTION)) {
                return;
            }
            const affects = (section: string): boolean => event.affectsConfiguration(section);
            if (needsRestart(affects)) {
                void running.restartIfChosenDifferently();
            } else {
                void running.pushSettings();
            }
            if (affectsRendering(affects)) {
                decorations.rebuild();
                spans.rebuild();
                render(ctx);
            }
            status.render();
        }),
        running.onDidDropResults(({ uri, ids }) => {
            // The daemon's word is final: the store's own edit rules mirror it, this makes it exact.
            const gone = ids.filter((id) => store.delete(id) !== undefined);
            if (gone.length > 0) {
                render(ctx, uri);
            }
        }),
        running.onDidLoseResults(() => {
            store.clear();
            matrix.drop(undefined);
            render(ctx);
        }),
        running.onDidChangeState((state) => {
            status.setDaemon(state, running.description);
            if (state === "starting") {
                watchInterpreter(context, settings, log, running);
            }
            if (state === "running") {
                void showDaemonStatus(ctx);
            }
        }),
    );

    status.setDaemon(running.state, running.description);
    void reportLegacyToken(settings, context.secrets);
}

let watchingInterpreter = false;

/**
 * Restart the daemon when the Python extension's interpreter changes (only when that choice is
 * the one in use). Set up with the first start, not at activation: asking for the Python
 * extension's API activates it.
 */
function watchInterpreter(context: vscode.ExtensionContext, settings: Settings, log: Log, running: DaemonClient): void {
    if (watchingInterpreter) {
        return;
    }
    watchingInterpreter = true;
    onDidChangeInterpreter(() => {
        if (settings.pythonPath === undefined && settings.serverAddress === undefined) {
            log.info("The Python extension's interpreter changed: restarting the daemon.");
            void running.restartIfStarted();
        }
    }).then(
        (watch) => {
            if (watch !== undefined) {
                context.subscriptions.push(watch);
            }
        },
        (error: unknown) => log.warn(`Watching the Python extension's interpreter: ${describeError(error)}`),
    );
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
    watchingInterpreter = false;
}
