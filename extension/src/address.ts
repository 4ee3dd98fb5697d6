/**
 * `tokenlight.server.address`: where a daemon that someone else started listens, and how to
 * reach it. No `vscode` import: the protocol test connects with the same code.
 */
import * as net from "node:net";

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
        try {
            return { kind: "ws", url: new URL(value).toString() };
        } catch {
            return { kind: "invalid", reason: `"${value}" is not a valid WebSocket URL` };
        }
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
        const fail = (error: Error): void => reject(new Error(`cannot connect to ${host}:${port}: ${error.message}`));
        socket.once("error", fail);
        socket.once("connect", () => {
            socket.removeListener("error", fail);
            resolve(socket);
        });
    });
}
