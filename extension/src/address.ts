/**
 * `tokenlight.server.address`: where a daemon that someone else started listens, how to reach it
 * over TCP, and what to tell the user when that fails. No `vscode` import: the protocol tests
 * connect with the same code and check the same messages.
 */
import * as net from "node:net";

/** Connecting to a remote daemon failed before LSP began; `code` is Node's (ECONNREFUSED, ...). */
export class DaemonConnectError extends Error {
    constructor(
        message: string,
        readonly code: string | undefined,
    ) {
        super(message);
        this.name = "DaemonConnectError";
    }
}

export type ServerAddress =
    | { kind: "tcp"; host: string; port: number }
    | { kind: "ws"; url: string }
    | { kind: "invalid"; reason: string };

/**
 * Parses `tcp://host:port` (also `host:port`) and `ws://` / `wss://` URLs. IPv6 hosts go in
 * brackets (`tcp://[::1]:8765`).
 */
export function parseServerAddress(raw: string): ServerAddress {
    const value = raw.trim();
    if (/^wss?:\/\//i.test(value)) {
        let url: URL;
        try {
            url = new URL(value);
        } catch {
            return { kind: "invalid", reason: `"${value}" is not a valid WebSocket URL (ws://host:port)` };
        }
        if (url.hostname === "") {
            return { kind: "invalid", reason: `"${value}" needs a host, e.g. ws://127.0.0.1:8765` };
        }
        return { kind: "ws", url: url.toString() };
    }
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `tcp://${value}`;
    let url: URL;
    try {
        url = new URL(withScheme);
    } catch {
        return { kind: "invalid", reason: `"${value}" is not tcp://host:port or ws://host:port` };
    }
    if (url.protocol !== "tcp:") {
        return { kind: "invalid", reason: `unsupported scheme "${url.protocol}" (use tcp:// or ws://)` };
    }
    const port = Number(url.port);
    if (url.hostname === "" || !Number.isInteger(port) || port <= 0 || port > 65535) {
        return { kind: "invalid", reason: `"${value}" needs a host and a port, e.g. tcp://127.0.0.1:8765` };
    }
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    return { kind: "tcp", host, port };
}

/**
 * Opens a TCP connection to a daemon (`tokenlight serve --tcp HOST:PORT`): LSP with
 * Content-Length framing, the same bytes as over stdio, so the socket is both reader and writer.
 */
export function connectTcp(host: string, port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
        const socket = net.connect({ host, port });
        const fail = (error: NodeJS.ErrnoException): void =>
            reject(new DaemonConnectError(`cannot connect to ${host}:${port}: ${error.message}`, error.code));
        socket.once("error", fail);
        socket.once("connect", () => {
            socket.removeListener("error", fail);
            resolve(socket);
        });
    });
}

/** JSON-RPC codes that say why `initialize` over a remote connection got no answer. */
const UNAUTHORIZED = -32001; // the daemon's: wrong or missing token (protocol.ts ErrorCodes)
const PENDING_RESPONSE_REJECTED = -32097; // vscode-jsonrpc: the connection closed first
const CONNECTION_INACTIVE = -32096;
const UNREACHABLE = new Set(["ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EADDRNOTAVAIL"]);

/**
 * One message, for a person, about why connecting to the daemon at `address` (the setting's value)
 * failed, and what to check: the token, whether anything listens there, the host, the scheme.
 */
export function remoteFailureMessage(address: string, error: unknown): string {
    const code = (error as { code?: unknown } | null)?.code;
    const detail = error instanceof Error ? error.message : String(error);
    const scheme = /^wss?:/i.test(address.trim()) ? "--ws" : "--tcp";
    if (code === UNAUTHORIZED) {
        return (
            `Tokenlight: the daemon at ${address} refused the token. Run Tokenlight: Set Remote Token with the token ` +
            'the daemon printed when it started ("tokenlight: token ...") or its --token / TOKENLIGHT_TOKEN.'
        );
    }
    if (code === "ECONNREFUSED" || code === "ECONNRESET") {
        // ECONNRESET: a daemon that is going away (its port still closing) refuses by resetting.
        const how = code === "ECONNREFUSED" ? "refused" : "reset";
        return (
            `Tokenlight: nothing is listening at ${address} (connection ${how}). Check that the daemon is running ` +
            `there (tokenlight serve ${scheme} HOST:PORT) and that tokenlight.server.address is the address it printed ` +
            '("tokenlight: listening on ...").'
        );
    }
    if (typeof code === "string" && UNREACHABLE.has(code)) {
        return (
            `Tokenlight: cannot reach ${address} (${detail}). Check the host in tokenlight.server.address and the network; ` +
            "across machines, an SSH tunnel (ssh -L 8765:127.0.0.1:8765 HOST) and 127.0.0.1 is the safe way."
        );
    }
    if (code === "EHANDSHAKE") {
        return (
            `Tokenlight: ${address} did not accept a WebSocket connection (${detail}). Is the daemon there started ` +
            "with --ws? A daemon started with --tcp needs a tcp:// address."
        );
    }
    if (code === PENDING_RESPONSE_REJECTED || code === CONNECTION_INACTIVE || /connection (is|got) (closed|disposed)/i.test(detail)) {
        return (
            `Tokenlight: the daemon at ${address} closed the connection before answering: check its log (it may have ` +
            "stopped, refused this client, or not be a Tokenlight daemon), then run Tokenlight: Restart Daemon."
        );
    }
    return `Tokenlight: could not connect to the daemon at ${address}: ${detail}`;
}
