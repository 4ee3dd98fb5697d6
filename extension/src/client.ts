/**
 * The daemon's lifetime: find the interpreter, check it can run the daemon, start the language
 * client over stdio (or connect to a remote daemon over TCP or WebSocket), restart it serialised,
 * and say clearly — once — when it crashed or could not be reached. Nothing starts until a command
 * needs the daemon (`ensureStarted`): activation only shows the status bar item.
 */
import * as vscode from "vscode";
import {
    CloseAction,
    DidChangeConfigurationNotification,
    ErrorAction,
    LanguageClient,
    State,
    type CloseHandlerResult,
    type DidChangeConfigurationParams,
    type ErrorHandler,
    type ErrorHandlerResult,
    type LanguageClientOptions,
} from "vscode-languageclient/node";
import { CrashPolicy } from "./crashPolicy";
import type { DaemonLease } from "./daemonLease";
import { DaemonLauncher } from "./launch";
import type { Log } from "./log";
import { describeError } from "./log";
import * as proto from "./protocol";
import type { InitializationOptions } from "./protocol";
import type { Secrets } from "./remoteToken";
import { SECTION, type Settings } from "./settings";

/** `notStarted`: no command has needed the daemon yet (nothing spawned, no model loaded). */
export type DaemonState = "notStarted" | "stopped" | "starting" | "running" | "failed";

/**
 * The language client without its own notifications when a start fails ("couldn't create
 * connection to server", and "Restarting server failed" after a crash): the DaemonClient reports every
 * failed start once, saying what to check. The client's log lines stay. (The texts are
 * vscode-languageclient 9's; should they change, the client's notifications simply come back.)
 */
class TokenlightLanguageClient extends LanguageClient {
    /** Called with the error when the client's own restart after a crash fails. */
    onRestartFailure: ((error: unknown) => void) | undefined;

    override error(message: string, data?: unknown, showNotification: boolean | "force" = true): void {
        if (message.endsWith("couldn't create connection to server.")) {
            super.error(message, data, false);
        } else if (message === "Restarting server failed" && this.onRestartFailure !== undefined) {
            super.error(message, data, false);
            this.onRestartFailure(data);
        } else {
            super.error(message, data, showNotification);
        }
    }
}

/**
 * The daemon's lifetime, seen from the editor: one language client at a time, started on first
 * need, restarted serialised, stopped on exit; its state and the results it loses or drops, as
 * events. How to reach the daemon is {@link DaemonLauncher}'s; when to restart after a crash,
 * {@link CrashPolicy}'s.
 */
export class DaemonClient implements vscode.Disposable {
    private client: LanguageClient | undefined;
    private restarting: Promise<void> | undefined;
    private restartQueued = false;
    private starting = false;
    private readonly crashPolicy = new CrashPolicy();
    private readonly launcher: DaemonLauncher;
    /** {@link chosenDaemon} at the last start. */
    private startedWith: string | undefined;
    private stateValue: DaemonState = "notStarted";
    private readonly clientDisposables: vscode.Disposable[] = [];
    /** Markdown appended to every Tokenlight hover (the colour legend); set by extension.ts. */
    hoverLegend: (() => vscode.MarkdownString) | undefined;

    private readonly stateEmitter = new vscode.EventEmitter<DaemonState>();
    /** Fires with the new state whenever it changes. */
    readonly onDidChangeState = this.stateEmitter.event;

    private readonly resultsLostEmitter = new vscode.EventEmitter<void>();
    /** Fires when the daemon's results died with it (crash, restart, stop): clear what is shown. */
    readonly onDidLoseResults = this.resultsLostEmitter.event;

    private readonly resultsDroppedEmitter = new vscode.EventEmitter<proto.ResultsDroppedParams>();
    /** Fires when the daemon names results it dropped while running (edits, replacement, clear). */
    readonly onDidDropResults = this.resultsDroppedEmitter.event;

    constructor(
        extensionPath: string,
        private readonly settings: Settings,
        private readonly log: Log,
        secrets: Secrets,
        lease?: DaemonLease,
    ) {
        this.launcher = new DaemonLauncher(extensionPath, settings, log, secrets, lease);
    }

    get state(): DaemonState {
        return this.stateValue;
    }

    /** The language client while the daemon is up, else undefined. */
    get running(): LanguageClient | undefined {
        return this.stateValue === "running" ? this.client : undefined;
    }

    /** A one-line description of the daemon process, for the status bar tooltip. */
    get description(): string {
        return this.launcher.description;
    }

    /** Resolves once a start or restart in progress (if any) has finished, however it ended. */
    async settled(): Promise<void> {
        await this.restarting;
    }

    /**
     * Start the daemon if no command has needed it yet, then wait for any start in progress.
     * True when this call made the first start (whose failure, if any, was just reported).
     */
    async ensureStarted(): Promise<boolean> {
        const first = this.stateValue === "notStarted";
        if (first) {
            await this.restart();
        }
        await this.settled();
        return first;
    }

    /** Restart for a changed setting or interpreter, unless nothing was ever started. */
    async restartIfStarted(): Promise<void> {
        if (this.stateValue !== "notStarted") {
            await this.restart();
        }
    }

    /**
     * Restart when the settings that choose the daemon (interpreter, address) now read differently
     * from when it started. A change VS Code reports that does not change what is read (a
     * workspace writing a user-only setting) restarts nothing.
     */
    async restartIfChosenDifferently(): Promise<void> {
        if (this.startedWith !== this.chosenDaemon()) {
            await this.restartIfStarted();
        }
    }

    private chosenDaemon(): string {
        return JSON.stringify([this.settings.pythonPath ?? null, this.settings.serverAddress ?? null]);
    }

    /**
     * Stop the current daemon (if any) and start a new one. Calls during a restart do not start a
     * second one in parallel: they queue exactly one more restart and share its promise.
     */
    restart(): Promise<void> {
        if (this.restarting !== undefined) {
            this.restartQueued = true;
            return this.restarting;
        }
        // An explicit (re)start begins a fresh count of crashes.
        this.crashPolicy.reset();
        this.restarting = (async () => {
            do {
                this.restartQueued = false;
                await this.stopClient();
                await this.startClient();
            } while (this.restartQueued);
        })().finally(() => {
            this.restarting = undefined;
        });
        return this.restarting;
    }

    /**
     * Tell the running daemon the new request defaults (`workspace/didChangeConfiguration`, under
     * the `tokenlight` key the daemon reads).
     */
    async pushSettings(): Promise<void> {
        const client = this.running;
        if (client === undefined) {
            return;
        }
        const params: DidChangeConfigurationParams = { settings: { [SECTION]: this.settings.daemonSettings() } };
        try {
            await client.sendNotification(DidChangeConfigurationNotification.type, params);
        } catch (error) {
            this.log.warn(`Sending settings to the daemon: ${describeError(error)}`);
        }
    }

    async stop(): Promise<void> {
        await this.restarting;
        await this.stopClient();
    }

    dispose(): void {
        void this.stopClient();
        this.stateEmitter.dispose();
        this.resultsLostEmitter.dispose();
        this.resultsDroppedEmitter.dispose();
    }

    private setState(state: DaemonState): void {
        if (state !== this.stateValue) {
            this.stateValue = state;
            this.stateEmitter.fire(state);
        }
    }

    private async stopClient(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        while (this.clientDisposables.length > 0) {
            this.clientDisposables.pop()?.dispose();
        }
        if (client !== undefined) {
            try {
                if (client.needsStop()) {
                    await client.stop(5000);
                }
            } catch (error) {
                this.log.warn(`Stopping the daemon: ${describeError(error)}`);
            }
            this.resultsLostEmitter.fire();
        }
        this.launcher.releaseLease();
        if (this.stateValue !== "notStarted") {
            this.setState("stopped");
        }
    }

    private async startClient(): Promise<void> {
        this.setState("starting");
        this.startedWith = this.chosenDaemon();
        const serverOptions = await this.launcher.serverOptions();
        if (serverOptions === undefined) {
            this.setState("failed");
            return;
        }
        const clientOptions: LanguageClientOptions = {
            // Attribution works on any text: prose, code, untitled scratch buffers.
            documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
            // No `synchronize.configurationSection`: it would push the whole `tokenlight` section,
            // extension-only keys and the token included; pushSettings sends the daemon's keys.
            outputChannel: this.log.channel,
            // A function: a restart after a crash sends the settings of that moment.
            initializationOptions: () => this.initializationOptions(),
            // A refused initialize (a wrong token) is reported by startClient, once.
            initializationFailedHandler: () => false,
            errorHandler: this.errorHandler(),
            middleware: {
                // The daemon's hover says what the numbers are; the legend of the colours is the
                // extension's (it owns palette and theme), so it is appended here.
                provideHover: async (document, position, token, next) => {
                    const hover = await next(document, position, token);
                    if (hover === null || hover === undefined || this.hoverLegend === undefined) {
                        return hover;
                    }
                    return new vscode.Hover([...hover.contents, this.hoverLegend()], hover.range);
                },
            },
        };
        const client = new TokenlightLanguageClient("tokenlight", "Tokenlight", serverOptions, clientOptions);
        client.onRestartFailure = (error) => {
            if (this.client === client) {
                this.setState("failed");
                void this.log.notifyError(this.launcher.startProblem(error));
            }
        };
        this.client = client;
        this.clientDisposables.push(
            client.onNotification(proto.resultsDropped, (params) => {
                if (this.client === client) {
                    this.resultsDroppedEmitter.fire(params);
                }
            }),
            client.onDidChangeState((event) => {
                if (this.client !== client) {
                    return;
                }
                if (event.newState === State.Running) {
                    this.setState("running");
                } else if (event.newState === State.Starting) {
                    this.setState("starting");
                } else if (!this.starting) {
                    this.setState("stopped");
                }
            }),
        );
        this.starting = true;
        try {
            await client.start();
            this.log.info(`Daemon started: ${this.description}`);
            this.setState("running");
        } catch (error) {
            this.setState("failed");
            void this.log.notifyError(this.launcher.startProblem(error));
        } finally {
            this.starting = false;
        }
    }

    /** What the daemon gets in `initialize`: the request defaults and, for a remote daemon, the token. */
    private initializationOptions(): InitializationOptions {
        const options: InitializationOptions = { tokenlight: this.settings.daemonSettings() };
        if (this.launcher.remoteToken !== undefined) {
            options.token = this.launcher.remoteToken;
        }
        return options;
    }

    private errorHandler(): ErrorHandler {
        return {
            error: (_error, _message, count): ErrorHandlerResult => ({
                // A few bad messages in a row are survivable; a stream of them is a dead connection.
                action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
                handled: true,
            }),
            closed: (): CloseHandlerResult => {
                this.resultsLostEmitter.fire();
                if (this.starting || this.stateValue === "failed") {
                    // A connection that ends while starting, or after a failed start (a remote daemon
                    // hangs up on a wrong token), was reported as that failure: no restart, no crash.
                    return { action: CloseAction.DoNotRestart, handled: true };
                }
                if (this.launcher.takenOver()) {
                    // A newer extension host of this workspace (a browser reload) started its own
                    // daemon and stopped this one: one daemon per workspace, so no restart here.
                    this.log.info("Another window of this workspace took over the daemon; this one stopped.");
                    return { action: CloseAction.DoNotRestart, handled: true };
                }
                const verdict = this.crashPolicy.crashed();
                if (verdict.restart) {
                    const tail = this.launcher.lastStderrLine();
                    const remote = this.settings.serverAddress;
                    this.log.error(
                        remote === undefined
                            ? `Daemon stopped unexpectedly; restarting. Last stderr line: ${tail}`
                            : `The connection to ${remote} was lost; reconnecting.`,
                    );
                    void vscode.window
                        .showWarningMessage(
                            remote === undefined
                                ? "Tokenlight: the daemon stopped unexpectedly and was restarted; its attributions were cleared."
                                : `Tokenlight: the connection to the daemon at ${remote} was lost; reconnecting. Its attributions were cleared.`,
                            "Show Log",
                        )
                        .then((choice) => (choice === "Show Log" ? this.log.show() : undefined));
                    return { action: CloseAction.Restart, handled: true };
                }
                void this.log.notifyError(
                    `Tokenlight: the daemon crashed ${verdict.crashes} times in 3 minutes and was not restarted. ` +
                        "Check the log, then run Tokenlight: Restart Daemon.",
                );
                return { action: CloseAction.DoNotRestart, handled: true };
            },
        };
    }
}
