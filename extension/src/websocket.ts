/**
 * LSP over a WebSocket (`tokenlight serve --ws HOST:PORT`): one JSON-RPC message per text frame,
 * no Content-Length headers (pygls' `run_websocket`). A vscode-jsonrpc MessageReader/MessageWriter
 * pair over a `ws` socket, handed to the language client as its MessageTransports.
 *
 * `ws`, not a global `WebSocket`: `engines.vscode` ^1.90 means Electron 29's Node 20, which has
 * one only behind `--experimental-websocket` (global from Node 22). No `vscode` import: the
 * protocol test connects with the same code.
 */
import {
    AbstractMessageReader,
    AbstractMessageWriter,
    Disposable,
    type DataCallback,
    type Message,
    type MessageReader,
    type MessageWriter,
} from "vscode-languageserver-protocol";
import WebSocket from "ws";
import { DaemonConnectError } from "./address";

/** How long the opening handshake may take before the connection counts as failed. */
export const HANDSHAKE_TIMEOUT_MS = 15_000;

/** Opens a WebSocket to `url`; rejects with a DaemonConnectError (its `code` says why) if it cannot. */
export function connectWebSocket(url: string, handshakeTimeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
        const socket = new WebSocket(url, { handshakeTimeout: handshakeTimeoutMs });
        const fail = (error: Error): void => {
            socket.removeListener("open", opened);
            // ws reports a refused connection with Node's error code; a failed handshake (an HTTP
            // answer that is not 101, a timeout) without one.
            const code = (error as NodeJS.ErrnoException).code ?? "EHANDSHAKE";
            reject(new DaemonConnectError(`cannot connect to ${url}: ${error.message}`, code));
        };
        const opened = (): void => {
            socket.removeListener("error", fail);
            resolve(socket);
        };
        socket.once("error", fail);
        socket.once("open", opened);
    });
}

/** Each text frame is one JSON-RPC message. Frames that arrive before `listen` are kept for it. */
export class WebSocketMessageReader extends AbstractMessageReader implements MessageReader {
    private callback: DataCallback | undefined;
    private readonly early: Message[] = [];

    constructor(socket: WebSocket) {
        super();
        socket.on("message", (data, isBinary) => this.receive(data, isBinary));
        socket.on("error", (error) => this.fireError(error));
        socket.on("close", () => this.fireClose());
    }

    listen(callback: DataCallback): Disposable {
        this.callback = callback;
        for (const message of this.early.splice(0)) {
            callback(message);
        }
        return Disposable.create(() => {
            this.callback = undefined;
        });
    }

    private receive(data: WebSocket.RawData, isBinary: boolean): void {
        const bytes = Array.isArray(data)
            ? Buffer.concat(data)
            : Buffer.isBuffer(data)
              ? data
              : Buffer.from(new Uint8Array(data));
        const text = bytes.toString("utf8");
        let message: Message;
        try {
            message = JSON.parse(text) as Message;
        } catch (error) {
            const kind = isBinary ? "binary frame" : "text frame";
            this.fireError(new Error(`a ${kind} that is not JSON: ${text.slice(0, 80)} (${String(error)})`));
            return;
        }
        if (this.callback === undefined) {
            this.early.push(message);
        } else {
            this.callback(message);
        }
    }
}

/** Sends each message as one text frame, in order; `end` closes the socket (a normal closure). */
export class WebSocketMessageWriter extends AbstractMessageWriter implements MessageWriter {
    private errorCount = 0;

    constructor(private readonly socket: WebSocket) {
        super();
        socket.on("close", () => this.fireClose());
    }

    write(message: Message): Promise<void> {
        return new Promise((resolve, reject) => {
            const failed = (error: Error): void => {
                this.errorCount++;
                this.fireError(error, message, this.errorCount);
                reject(error);
            };
            if (this.socket.readyState !== WebSocket.OPEN) {
                failed(new Error("the WebSocket to the daemon is closed"));
                return;
            }
            this.socket.send(JSON.stringify(message), (error) => {
                if (error === undefined || error === null) {
                    this.errorCount = 0;
                    resolve();
                } else {
                    failed(error);
                }
            });
        });
    }

    end(): void {
        if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
            this.socket.close(1000, "client done");
        }
    }
}

/** The reader and writer of one open socket, as the language client's MessageTransports. */
export function webSocketTransports(socket: WebSocket): { reader: MessageReader; writer: MessageWriter } {
    return { reader: new WebSocketMessageReader(socket), writer: new WebSocketMessageWriter(socket) };
}
