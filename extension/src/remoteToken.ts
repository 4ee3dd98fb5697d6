/**
 * The token a remote daemon needs, from where a workspace cannot put one: the daemon's own token
 * file on this machine, or VS Code's SecretStorage (set by **Tokenlight: Set Remote Token**).
 * Never from settings files, which a workspace can ship and anyone with the file can read. No
 * `vscode` import: the file system, the environment and the secret store are passed in, so the
 * order is unit-tested and the protocol tests read the daemon's file with the same code.
 *
 * `tokenlight serve --tcp|--ws` without `--token` generates a token and writes
 * `{format, url, token, pid}` to `daemon-<port>.json` (mode 0600) in its runtime folder, by the
 * rule of `daemon/tokenlight/server/auth.py` mirrored in {@link runtimeDir}.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ServerAddress } from "./address";

/** The SecretStorage key of the remote daemon's token (the old setting's name). */
export const SECRET_KEY = "tokenlight.server.token";
const FILE_FORMAT = "tokenlight-daemon";

/** The part of `vscode.SecretStorage` used here. */
export interface Secrets {
    get(key: string): Thenable<string | undefined>;
    store(key: string, value: string): Thenable<void>;
    delete(key: string): Thenable<void>;
}

export interface Machine {
    env: NodeJS.ProcessEnv;
    platform: NodeJS.Platform;
    home: string;
    isDirectory: (folder: string) => boolean;
    /** The file's text, or undefined when it cannot be read. */
    readFile: (file: string) => string | undefined;
    /** Whether a process with this id runs (a stale file names a daemon that is gone). */
    isAlive: (pid: number) => boolean;
}

/** The platform's user cache folder, as the daemon's `user_cache_base()` finds it. */
function userCacheBase(machine: Machine): string {
    const paths = machine.platform === "win32" ? path.win32 : path.posix;
    if (machine.platform === "win32" && machine.env.LOCALAPPDATA) {
        return machine.env.LOCALAPPDATA;
    }
    if (machine.platform === "darwin") {
        return paths.join(machine.home, "Library", "Caches");
    }
    return machine.env.XDG_CACHE_HOME || paths.join(machine.home, ".cache");
}

/**
 * `$TOKENLIGHT_RUNTIME_DIR` when set (`make run` points its contained code-server at the user's own
 * folder this way), else `$XDG_RUNTIME_DIR/tokenlight` when that folder exists, else
 * `<user cache folder>/tokenlight/runtime`.
 */
export function runtimeDir(machine: Machine): string {
    const paths = machine.platform === "win32" ? path.win32 : path.posix;
    if (machine.env.TOKENLIGHT_RUNTIME_DIR) {
        return machine.env.TOKENLIGHT_RUNTIME_DIR;
    }
    const runtime = machine.env.XDG_RUNTIME_DIR;
    if (runtime && machine.isDirectory(runtime)) {
        return paths.join(runtime, "tokenlight");
    }
    return paths.join(userCacheBase(machine), "tokenlight", "runtime");
}

export function tokenFilePath(port: number, machine: Machine): string {
    const paths = machine.platform === "win32" ? path.win32 : path.posix;
    return paths.join(runtimeDir(machine), `daemon-${port}.json`);
}

function isLoopbackHost(host: string): boolean {
    const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
    return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** The host and port of a tcp or ws address, when it is on this machine (loopback). */
export function loopbackPort(address: ServerAddress): number | undefined {
    if (address.kind === "tcp") {
        return isLoopbackHost(address.host) ? address.port : undefined;
    }
    if (address.kind === "ws") {
        const url = new URL(address.url);
        const port = Number(url.port || (url.protocol === "wss:" ? 443 : 80));
        return isLoopbackHost(url.hostname) ? port : undefined;
    }
    return undefined;
}

/** The token a live daemon on this machine saved for `port`, or undefined. */
export function readTokenFile(port: number, machine: Machine): string | undefined {
    const text = machine.readFile(tokenFilePath(port, machine));
    if (text === undefined) {
        return undefined;
    }
    try {
        const data = JSON.parse(text) as Record<string, unknown>;
        const url = typeof data.url === "string" ? new URL(data.url) : undefined;
        const ok =
            data.format === FILE_FORMAT &&
            typeof data.token === "string" &&
            data.token !== "" &&
            Number(url?.port) === port &&
            typeof data.pid === "number" &&
            machine.isAlive(data.pid);
        return ok ? (data.token as string) : undefined;
    } catch {
        return undefined;
    }
}

export type TokenSource = "tokenFile" | "secretStorage";

/**
 * The token for `address`, in this order:
 *
 * 1. for a daemon on this machine (a loopback address), the token file a live daemon wrote for that
 *    port: it is the daemon listening there, whatever was stored for another;
 * 2. the token stored with **Tokenlight: Set Remote Token**.
 */
export async function findRemoteToken(
    address: ServerAddress,
    secrets: Secrets,
    machine: Machine,
): Promise<{ token: string; source: TokenSource } | undefined> {
    const port = loopbackPort(address);
    const fromFile = port === undefined ? undefined : readTokenFile(port, machine);
    if (fromFile !== undefined) {
        return { token: fromFile, source: "tokenFile" };
    }
    const stored = await secrets.get(SECRET_KEY);
    return stored ? { token: stored, source: "secretStorage" } : undefined;
}

/** This machine, through Node. */
export function nodeMachine(): Machine {
    return {
        env: process.env,
        platform: process.platform,
        home: os.homedir(),
        isDirectory: (folder) => {
            try {
                return fs.statSync(folder).isDirectory();
            } catch {
                return false;
            }
        },
        readFile: (file) => {
            try {
                return fs.readFileSync(file, "utf8");
            } catch {
                return undefined;
            }
        },
        isAlive: (pid) => {
            try {
                process.kill(pid, 0);
                return true;
            } catch (error) {
                return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
            }
        },
    };
}

/**
 * What **Tokenlight: Set Remote Token** does with what the user typed: undefined (Escape) changes
 * nothing, an empty line removes the stored token, anything else is stored (trimmed).
 */
export async function applyTokenInput(secrets: Secrets, input: string | undefined): Promise<"unchanged" | "cleared" | "stored"> {
    if (input === undefined) {
        return "unchanged";
    }
    const token = input.trim();
    if (token === "") {
        await secrets.delete(SECRET_KEY);
        return "cleared";
    }
    await secrets.store(SECRET_KEY, token);
    return "stored";
}
