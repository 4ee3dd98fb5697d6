/**
 * Launching: how the extension reaches a daemon. Either it spawns `<python> -m tokenlight serve`
 * over stdio, after finding the interpreter (setting, the Python extension's, a `.venv`, `python3`;
 * never one inside an untrusted workspace) and a preflight that it can import the daemon; or it
 * connects to `tokenlight.server.address` over TCP or WebSocket with the token the daemon expects
 * (its token file on this machine, else SecretStorage). It also words a failed start: what went
 * wrong and what to check. The daemon's lifetime (start, stop, restart) is `client.ts`'s.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as vscode from "vscode";
import type { MessageTransports, ServerOptions, StreamInfo } from "vscode-languageclient/node";
import { connectTcp, parseServerAddress, remoteFailureMessage } from "./address";
import type { DaemonLease } from "./daemonLease";
import type { Log } from "./log";
import { describeError } from "./log";
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
import type { Settings } from "./settings";
import { connectWebSocket, webSocketTransports } from "./websocket";

const PREFLIGHT_TIMEOUT_MS = 30_000;
const STDERR_TAIL_CHARS = 4000;

export class DaemonLauncher {
    /** The interpreter of the last local launch (undefined for a remote daemon). */
    interpreter: Interpreter | undefined;
    /** The remote daemon's token, looked up (token file, SecretStorage) before each connection. */
    remoteToken: string | undefined;
    /** The end of the spawned daemon's stderr, to explain an early exit. */
    stderrTail = "";
    /** The pid of the daemon this host spawned last (undefined for a remote daemon). */
    private daemonPid: number | undefined;

    constructor(
        private readonly extensionPath: string,
        private readonly settings: Settings,
        private readonly log: Log,
        private readonly secrets: Secrets,
        private readonly lease?: DaemonLease,
    ) {}

    /** Whether another extension host of this workspace has since started the daemon it uses. */
    takenOver(): boolean {
        return this.daemonPid !== undefined && this.lease !== undefined && this.lease.takenOver();
    }

    /** This host's daemon has stopped: give its lease back. */
    releaseLease(): void {
        if (this.daemonPid !== undefined) {
            this.lease?.release(this.daemonPid);
            this.daemonPid = undefined;
        }
    }

    /** A one-line description of the daemon process, for the status bar tooltip. */
    get description(): string {
        const address = this.settings.serverAddress;
        if (address !== undefined) {
            return `remote daemon at ${address}`;
        }
        return this.interpreter === undefined ? "no daemon" : `${this.interpreter.path} -m tokenlight serve`;
    }

    /** The last line the spawned daemon wrote to stderr. */
    lastStderrLine(): string {
        return this.stderrTail.trim().split(/\r?\n/).pop() ?? "";
    }

    /** One message for a failed start: what went wrong and what to check. */
    startProblem(error: unknown): string {
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
    async serverOptions(): Promise<ServerOptions | undefined> {
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
            this.daemonPid = child.pid;
            if (child.pid !== undefined && this.lease !== undefined) {
                // One daemon per workspace: an older extension host's (a browser reload) is stopped.
                const stopped = this.lease.claim(child.pid);
                if (stopped !== undefined) {
                    this.log.info(`Stopped daemon ${stopped}, started by an earlier window of this workspace.`);
                }
            }
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
        this.releaseLease();
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
