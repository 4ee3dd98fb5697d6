/**
 * The daemon's lifetime: find the interpreter, check it can run the daemon, start the language
 * client over stdio (or connect to a remote daemon over TCP or WebSocket), restart it serialised,
 * and say clearly — once — when it crashed or could not be reached. Nothing starts until a command
 * needs the daemon (`ensureStarted`): activation only shows the status bar item.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
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
    type MessageTransports,
    type ServerOptions,
    type StreamInfo,
} from "vscode-languageclient/node";
import { connectTcp, parseServerAddress, remoteFailureMessage } from "./address";
import type { Log } from "./log";
import { describeError } from "./log";
import * as proto from "./protocol";
import type { InitializationOptions } from "./protocol";
import {
    diagnoseStderr,
    findInterpreter,
    findRepoRoot,
    launchProblem,
    parsePreflight,
    PREFLIGHT_SCRIPT,
    type Interpreter,
    type PreflightOutcome,
} from "./python";
import { activeInterpreter } from "./pythonExtension";
import { findRemoteToken, nodeMachine, type Secrets } from "./remoteToken";
import { SECTION, type Settings } from "./settings";
import { connectWebSocket, webSocketTransports } from "./websocket";

/** `notStarted`: no command has needed the daemon yet (nothing spawned, no model loaded). */
export type DaemonState = "notStarted" | "stopped" | "starting" | "running" | "failed";

/** The language client's own policy, kept: more crashes than this in the window stop restarts. */
const MAX_RESTARTS = 4;
const RESTART_WINDOW_MS = 3 * 60 * 1000;
const PREFLIGHT_TIMEOUT_MS = 30_000;
const STDERR_TAIL_CHARS = 4000;

/**
 * The language client without its own notifications when a start fails ("couldn't create
 * connection to server", and "Restarting server failed" after a crash): the Daemon reports every
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

export class Daemon implements vscode.Disposable {
    private client: LanguageClient | undefined;
    private restarting: Promise<void> | undefined;
    private restartQueued = false;
    private starting = false;
    private crashes: number[] = [];
    private stderrTail = "";
    private interpreter: Interpreter | undefined;
    /** The remote daemon's token, looked up (token file, SecretStorage) before each connection. */
    private remoteToken: string | undefined;
    /** {@link chosenDaemon} at the last start. */
    private startedWith: string | undefined;
    private stateValue: DaemonState = "notStarted";
    private readonly clientDisposables: vscode.Disposable[] = [];

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
        private readonly extensionPath: string,
        private readonly settings: Settings,
        private readonly log: Log,
        private readonly secrets: Secrets,
    ) {}

    get state(): DaemonState {
        return this.stateValue;
    }

    /** The language client while the daemon is up, else undefined. */
    get running(): LanguageClient | undefined {
        return this.stateValue === "running" ? this.client : undefined;
    }

    /** A one-line description of the daemon process, for the status bar tooltip. */
    get description(): string {
        const address = this.settings.serverAddress;
        if (address !== undefined) {
            return `remote daemon at ${address}`;
        }
        return this.interpreter === undefined ? "no daemon" : `${this.interpreter.path} -m tokenlight serve`;
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
        this.crashes = [];
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
        if (this.stateValue !== "notStarted") {
            this.setState("stopped");
        }
    }

    private async startClient(): Promise<void> {
        this.setState("starting");
        this.startedWith = this.chosenDaemon();
        const serverOptions = await this.serverOptions();
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
        };
        const client = new TokenlightLanguageClient("tokenlight", "Tokenlight", serverOptions, clientOptions);
        client.onRestartFailure = (error) => {
            if (this.client === client) {
                this.setState("failed");
                void this.log.notifyError(this.startProblem(error));
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
            void this.log.notifyError(this.startProblem(error));
        } finally {
            this.starting = false;
        }
    }

    /** What the daemon gets in `initialize`: the request defaults and, for a remote daemon, the token. */
    private initializationOptions(): InitializationOptions {
        const options: InitializationOptions = { tokenlight: this.settings.daemonSettings() };
        if (this.remoteToken !== undefined) {
            options.token = this.remoteToken;
        }
        return options;
    }

    /** One message for a failed start: what went wrong and what to check. */
    private startProblem(error: unknown): string {
        const address = this.settings.serverAddress;
        if (address !== undefined) {
            return remoteFailureMessage(address, error);
        }
        const diagnosis =
            this.interpreter === undefined ? undefined : diagnoseStderr(this.stderrTail, this.interpreter, this.repoRoot());
        return diagnosis ?? `Tokenlight: the daemon failed to start: ${describeError(error)}`;
    }

    private repoRoot(): string | undefined {
        return findRepoRoot(this.extensionPath, fs.existsSync);
    }

    /** How to reach a daemon: connect to the configured address, or spawn one (after a preflight). */
    private async serverOptions(): Promise<ServerOptions | undefined> {
        const raw = this.settings.serverAddress;
        if (raw !== undefined) {
            return this.remoteServerOptions(raw);
        }
        this.remoteToken = undefined;
        const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
        const trusted = vscode.workspace.isTrusted;
        const interpreter = await findInterpreter({
            setting: this.settings.pythonPath,
            activeEnvironment: () => activeInterpreter(vscode.workspace.workspaceFolders?.[0]?.uri),
            workspaceFolders: folders,
            extensionPath: this.extensionPath,
            exists: fs.existsSync,
            platform: process.platform,
            home: os.homedir(),
            trusted,
        });
        this.interpreter = interpreter;
        for (const skipped of interpreter.skipped ?? []) {
            this.log.warn(`Not running ${skipped}: it is inside this workspace, which is not trusted.`);
        }
        this.log.info(`Python: ${interpreter.path} (${interpreter.source})`);
        const problem = launchProblem(interpreter, await preflight(interpreter.path), this.repoRoot());
        if (problem !== undefined) {
            void this.log.notifyError(problem);
            return undefined;
        }
        // `python -m` puts its working directory first on sys.path: an untrusted workspace's files
        // must not be importable as `tokenlight` or `torch`.
        const cwd = (trusted ? folders[0] : undefined) ?? this.repoRoot() ?? os.homedir();
        return (): Promise<ChildProcess> => {
            this.stderrTail = "";
            const child = spawn(interpreter.path, ["-m", "tokenlight", "serve"], {
                cwd,
                env: { ...process.env, PYTHONUNBUFFERED: "1" },
            });
            // The language client copies stderr into the log; keep a tail to explain early exits.
            child.stderr?.on("data", (chunk: Buffer) => {
                this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL_CHARS);
            });
            return Promise.resolve(child);
        };
    }

    private async remoteServerOptions(raw: string): Promise<ServerOptions | undefined> {
        const address = parseServerAddress(raw);
        this.interpreter = undefined;
        if (address.kind === "invalid") {
            void this.log.notifyError(`Tokenlight: tokenlight.server.address: ${address.reason}.`);
            return undefined;
        }
        const found = await findRemoteToken(address, this.secrets, nodeMachine());
        this.remoteToken = found?.token;
        this.log.info(
            found === undefined
                ? `No token for ${raw}: run Tokenlight: Set Remote Token if the daemon asks for one.`
                : `Token for ${raw}: from ${found.source === "tokenFile" ? "the daemon's token file" : "secret storage"}.`,
        );
        if (address.kind === "ws") {
            // One JSON-RPC message per text frame; the token travels in initialize, as over TCP.
            return async (): Promise<MessageTransports> => webSocketTransports(await connectWebSocket(address.url));
        }
        return async (): Promise<StreamInfo> => {
            const socket = await connectTcp(address.host, address.port);
            return { reader: socket, writer: socket };
        };
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
                const now = Date.now();
                this.crashes = this.crashes.filter((t) => now - t < RESTART_WINDOW_MS);
                this.crashes.push(now);
                if (this.crashes.length <= MAX_RESTARTS) {
                    const tail = this.stderrTail.trim().split(/\r?\n/).pop() ?? "";
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
                    `Tokenlight: the daemon crashed ${this.crashes.length} times in 3 minutes and was not restarted. ` +
                        "Check the log, then run Tokenlight: Restart Daemon.",
                );
                return { action: CloseAction.DoNotRestart, handled: true };
            },
        };
    }
}

/** Runs the preflight script: can this interpreter import the daemon? (Never imports torch.) */
function preflight(python: string): Promise<PreflightOutcome> {
    return new Promise((resolve) => {
        execFile(python, ["-c", PREFLIGHT_SCRIPT], { timeout: PREFLIGHT_TIMEOUT_MS }, (error, stdout, stderr) => {
            if (error !== null && (error as NodeJS.ErrnoException).code === "ENOENT") {
                resolve({ kind: "notFound" });
                return;
            }
            const report = parsePreflight(stdout);
            if (report !== undefined) {
                resolve({ kind: "ran", report });
                return;
            }
            const detail = (stderr.trim() || error?.message || "unexpected output").split(/\r?\n/).slice(-3).join(" ");
            resolve({ kind: "failed", detail });
        });
    });
}
