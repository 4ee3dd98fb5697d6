/**
 * Remote mode against the real daemon: `tokenlight serve --tcp|--ws 127.0.0.1:0` started without a
 * token, as a user would, so that it generates one and saves it in its token file; the client finds
 * it with the extension's own `findRemoteToken` (the daemon's file rule, mirrored in TypeScript),
 * connects with the extension's own `connectTcp` / `connectWebSocket` + WebSocket reader and writer,
 * and sends it as `initializationOptions.token`; no token, a wrong token and a refused connection
 * get the messages the extension shows. Skipped, saying why, only where the repository's .venv does
 * not exist.
 */
import assert from "node:assert/strict";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    createProtocolConnection,
    DidOpenTextDocumentNotification,
    ExitNotification,
    InitializedNotification,
    InitializeRequest,
    ResponseError,
    ShutdownRequest,
    StreamMessageReader,
    StreamMessageWriter,
    type ProtocolConnection,
} from "vscode-languageserver-protocol/node";
import { connectTcp, DaemonConnectError, parseServerAddress, remoteFailureMessage } from "../../address";
import * as proto from "../../protocol";
import { findRemoteToken, nodeMachine, type Secrets } from "../../remoteToken";
import { connectWebSocket, webSocketTransports } from "../../websocket";
import { answerAsVsCode, SKIP, spawnDaemon, testSettings } from "./realDaemon";

const SETTINGS = testSettings(2);

const URI = "file:///tmp/tokenlight-remote/example.py";
const TEXT = "def add(a, b):\n    return a + b\n";
const PROMPT = { start: { line: 0, character: 0 }, end: { line: 0, character: 14 } };

interface RemoteDaemon {
    process: ChildProcessWithoutNullStreams;
    /** What the daemon printed: `tcp://127.0.0.1:PORT` or `ws://127.0.0.1:PORT`. */
    address: string;
    cacheDir: string;
    /** The daemon's (and the client's) $XDG_RUNTIME_DIR, where the token file is. */
    runtimeDir: string;
}

/** No token stored with Set Remote Token. */
const NO_SECRETS: Secrets = {
    get: () => Promise.resolve(undefined),
    store: () => Promise.resolve(),
    delete: () => Promise.resolve(),
};

/** Starts `tokenlight serve --tcp|--ws 127.0.0.1:0` (no token: it generates one) and waits until it has saved it. */
async function startRemoteDaemon(transport: "tcp" | "ws"): Promise<RemoteDaemon> {
    const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), "tokenlight-it-run-"));
    const { child, cacheDir } = spawnDaemon([`--${transport}`, "127.0.0.1:0"], { XDG_RUNTIME_DIR: runtimeDir, TOKENLIGHT_TOKEN: "" });
    // The daemon announces the port it picked on stderr, then where it saved the token.
    const address = await new Promise<string>((resolve, reject) => {
        let stderr = "";
        const timer = setTimeout(() => reject(new Error(`no "listening on" line: ${stderr}`)), 60_000);
        child.stderr.on("data", (chunk: Buffer) => {
            stderr += chunk.toString("utf8");
            const match = new RegExp(`listening on (${transport}://\\S+)[\\s\\S]*token saved in`).exec(stderr);
            if (match !== null) {
                clearTimeout(timer);
                resolve(match[1]);
            }
        });
        child.once("exit", (code) => reject(new Error(`daemon exited (${code}): ${stderr}`)));
    });
    return { process: child, address, cacheDir, runtimeDir };
}

/** The token the extension would send to `daemon`: found as the extension finds it. */
async function tokenFor(daemon: RemoteDaemon): Promise<string> {
    const machine = { ...nodeMachine(), env: { ...process.env, XDG_RUNTIME_DIR: daemon.runtimeDir } };
    const found = await findRemoteToken(parseServerAddress(daemon.address), NO_SECRETS, machine);
    assert.equal(found?.source, "tokenFile");
    return found.token;
}

function stopRemoteDaemon(daemon: RemoteDaemon | undefined): void {
    daemon?.process.kill();
    if (daemon !== undefined) {
        fs.rmSync(daemon.cacheDir, { recursive: true, force: true });
        fs.rmSync(daemon.runtimeDir, { recursive: true, force: true });
    }
}

/** A connection over the extension's own transport for `address` (what client.ts hands the client). */
async function open(address: string): Promise<ProtocolConnection> {
    const parsed = parseServerAddress(address);
    let connection: ProtocolConnection;
    if (parsed.kind === "tcp") {
        const socket = await connectTcp(parsed.host, parsed.port);
        connection = createProtocolConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket));
    } else if (parsed.kind === "ws") {
        const { reader, writer } = webSocketTransports(await connectWebSocket(parsed.url));
        connection = createProtocolConnection(reader, writer);
    } else {
        throw new Error(parsed.reason);
    }
    answerAsVsCode(connection);
    connection.listen();
    return connection;
}

function initialize(connection: ProtocolConnection, token: string | undefined) {
    const initializationOptions: proto.InitializationOptions = { tokenlight: SETTINGS };
    if (token !== undefined) {
        initializationOptions.token = token;
    }
    return connection.sendRequest(InitializeRequest.type, {
        processId: null,
        rootUri: null,
        capabilities: { workspace: { inlayHint: { refreshSupport: true } } },
        initializationOptions,
    });
}

/** A port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

for (const transport of ["tcp", "ws"] as const) {
    describe(`remote daemon over ${transport === "tcp" ? "TCP" : "WebSocket"} with its generated token`, { skip: SKIP, timeout: 240_000 }, () => {
        let daemon: RemoteDaemon | undefined;

        before(async () => {
            daemon = await startRemoteDaemon(transport);
        });

        after(() => stopRemoteDaemon(daemon));

        for (const [name, token] of [["a wrong token", "wrong"], ["no token", undefined]] as const) {
            it(`refuses initialize with ${name} (Unauthorized), and the user is told to set the token`, async () => {
                assert.ok(daemon !== undefined);
                assert.ok(daemon.address.startsWith(`${transport}://`), daemon.address);
                const connection = await open(daemon.address);
                let refusal: unknown;
                await assert.rejects(initialize(connection, token), (error: unknown) => {
                    refusal = error;
                    return error instanceof ResponseError && error.code === proto.ErrorCodes.Unauthorized;
                });
                const message = remoteFailureMessage(daemon.address, refusal);
                assert.match(message, /refused the token/);
                assert.match(message, /Tokenlight: Set Remote Token/);
                assert.ok(message.includes(daemon.address), message);
                connection.dispose();
            });
        }

        it("serves a client that sends the token from the daemon's file: attribute and methods over the extension's transport", async () => {
            assert.ok(daemon !== undefined);
            // The refused client's connection is closed by the daemon; it takes the next one.
            const connection = await open(daemon.address);
            const init = await initialize(connection, await tokenFor(daemon));
            assert.ok(init.capabilities.hoverProvider);
            await connection.sendNotification(InitializedNotification.type, {});
            await connection.sendNotification(DidOpenTextDocumentNotification.type, {
                textDocument: { uri: URI, languageId: "python", version: 1, text: TEXT },
            });
            const methods = await connection.sendRequest(proto.methods, {});
            assert.ok(methods.some((m) => m.id === "integrated_gradients"), "methods lists integrated_gradients");
            assert.ok(methods.some((m) => m.id === "saliency"), "methods lists saliency");
            const result = await connection.sendRequest(proto.attribute, {
                textDocument: { uri: URI },
                range: PROMPT,
                target: { kind: "generate", maxNewTokens: 2 },
                method: "saliency",
            });
            assert.match(result.id, /^r\d+$/);
            assert.equal(result.method, "saliency");
            assert.ok(result.targetTokens.length >= 1 && result.targetTokens.length <= 2);
            assert.equal(result.scores.length, result.targetTokens.length);
            const sources = result.sourceTokens.filter((t) => !t.special).map((t) => t.text).join("");
            assert.equal(sources, "def add(a, b):");
            await connection.sendRequest(ShutdownRequest.type);
            await connection.sendNotification(ExitNotification.type);
            connection.dispose();
        });
    });
}

describe("remote daemon not there", () => {
    it("a refused TCP or WebSocket connection says nothing listens there and what to check", async () => {
        const port = await closedPort();
        for (const address of [`tcp://127.0.0.1:${port}`, `ws://127.0.0.1:${port}`]) {
            const parsed = parseServerAddress(address);
            const connecting =
                parsed.kind === "tcp"
                    ? connectTcp(parsed.host, parsed.port)
                    : parsed.kind === "ws"
                      ? connectWebSocket(parsed.url)
                      : Promise.reject(new Error("unparsed"));
            let failure: unknown;
            await assert.rejects(connecting, (error: unknown) => {
                failure = error;
                return error instanceof DaemonConnectError && error.code === "ECONNREFUSED";
            });
            const message = remoteFailureMessage(address, failure);
            assert.match(message, /nothing is listening at/);
            assert.match(message, new RegExp(`tokenlight serve --${parsed.kind} HOST:PORT`));
            assert.match(message, /tokenlight\.server\.address/);
        }
    });

    it("a WebSocket handshake with a server that is not a WebSocket daemon says so", async () => {
        // A plain HTTP server: it answers the upgrade request with 404.
        const http = await import("node:http");
        const server = http.createServer((_req, res) => res.writeHead(404).end());
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const { port } = server.address() as net.AddressInfo;
        try {
            let failure: unknown;
            await assert.rejects(connectWebSocket(`ws://127.0.0.1:${port}/`), (error: unknown) => {
                failure = error;
                return error instanceof DaemonConnectError && error.code === "EHANDSHAKE";
            });
            assert.match(remoteFailureMessage(`ws://127.0.0.1:${port}`, failure), /did not accept a WebSocket connection.*--ws/);
        } finally {
            server.close();
        }
    });
});
