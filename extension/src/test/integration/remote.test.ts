/**
 * Remote mode against the real daemon: `tokenlight serve --tcp 127.0.0.1:0 --token …`, reached with
 * the extension's own `connectTcp`, authenticated by `initializationOptions.token` as the extension
 * sends it. Skipped, saying why, only where the repository's .venv does not exist.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    createProtocolConnection,
    ExitNotification,
    InitializedNotification,
    InitializeRequest,
    ResponseError,
    ShutdownRequest,
    StreamMessageReader,
    StreamMessageWriter,
    type ProtocolConnection,
} from "vscode-languageserver-protocol/node";
import { connectTcp, parseServerAddress } from "../../address";
import * as proto from "../../protocol";

const REPO = path.resolve(__dirname, "..", "..", "..", "..");
const PYTHON = path.join(REPO, ".venv", "bin", "python");
const SKIP = fs.existsSync(PYTHON) ? false : `no ${PYTHON}: run \`make setup\` in ${REPO} to test against the real daemon`;
const TOKEN = "integration-test-token";

const SETTINGS: proto.DaemonSettings = {
    model: null,
    device: "cpu",
    dtype: "auto",
    method: "integrated_gradients",
    nSteps: null,
    baseline: "zero",
    stepFunction: "logit",
    maxNewTokens: 2,
};

async function open(address: string): Promise<ProtocolConnection> {
    const parsed = parseServerAddress(address);
    assert.equal(parsed.kind, "tcp");
    assert.ok(parsed.kind === "tcp");
    const socket = await connectTcp(parsed.host, parsed.port);
    const connection = createProtocolConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket));
    connection.listen();
    return connection;
}

describe("remote daemon over TCP with a token", { skip: SKIP, timeout: 120_000 }, () => {
    let daemon: ChildProcessWithoutNullStreams;
    let address = "";
    let cacheDir = "";

    before(async () => {
        cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "tokenlight-it-"));
        daemon = spawn(
            PYTHON,
            ["-m", "tokenlight", "serve", "--tcp", "127.0.0.1:0", "--token", TOKEN, "--cache-dir", cacheDir],
            { cwd: REPO, env: { ...process.env, MPLBACKEND: "Agg" } },
        );
        // The daemon announces the port it picked on stderr.
        address = await new Promise<string>((resolve, reject) => {
            let stderr = "";
            const timer = setTimeout(() => reject(new Error(`no "listening on" line: ${stderr}`)), 60_000);
            daemon.stderr.on("data", (chunk: Buffer) => {
                stderr += chunk.toString("utf8");
                const match = /listening on (tcp:\/\/\S+)/.exec(stderr);
                if (match !== null) {
                    clearTimeout(timer);
                    resolve(match[1]);
                }
            });
            daemon.once("exit", (code) => reject(new Error(`daemon exited (${code}): ${stderr}`)));
        });
    });

    after(() => {
        daemon.kill();
        fs.rmSync(cacheDir, { recursive: true, force: true });
    });

    it("refuses initialize without the right token (Unauthorized)", async () => {
        const connection = await open(address);
        await assert.rejects(
            connection.sendRequest(InitializeRequest.type, {
                processId: null,
                rootUri: null,
                capabilities: {},
                initializationOptions: { token: "wrong", tokenlight: SETTINGS } satisfies proto.InitializationOptions,
            }),
            (error: unknown) => error instanceof ResponseError && error.code === proto.ErrorCodes.Unauthorized,
        );
        connection.dispose();
    });

    it("serves a client that sends the token as initializationOptions.token", async () => {
        // The refused client's connection is closed by the daemon; it takes the next one.
        const connection = await open(address);
        const init = await connection.sendRequest(InitializeRequest.type, {
            processId: null,
            rootUri: null,
            capabilities: {},
            initializationOptions: { token: TOKEN, tokenlight: SETTINGS } satisfies proto.InitializationOptions,
        });
        assert.ok(init.capabilities.hoverProvider);
        await connection.sendNotification(InitializedNotification.type, {});
        const status = await connection.sendRequest(proto.status, {});
        assert.equal(typeof status.busy, "boolean");
        await connection.sendRequest(ShutdownRequest.type);
        await connection.sendNotification(ExitNotification.type);
        connection.dispose();
    });
});
