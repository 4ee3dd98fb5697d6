/**
 * The extension's protocol code against the REAL daemon: `<repo>/.venv/bin/python -m tokenlight
 * serve` over stdio pipes, driven with vscode-languageserver-protocol's node connection (what
 * vscode-languageclient uses underneath) and the typed request constants of src/protocol.ts.
 * Skipped, saying why, only where the repository's .venv does not exist (run `make setup`).
 */
import assert from "node:assert/strict";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    CancellationTokenSource,
    createProtocolConnection,
    DidChangeTextDocumentNotification,
    DidOpenTextDocumentNotification,
    ExitNotification,
    HoverRequest,
    InitializedNotification,
    InitializeRequest,
    InlayHintRequest,
    ResponseError,
    ShutdownRequest,
    StreamMessageReader,
    StreamMessageWriter,
    WorkDoneProgress,
    type InlayHint,
    type ProtocolConnection,
    type WorkDoneProgressBegin,
    type WorkDoneProgressEnd,
    type WorkDoneProgressReport,
} from "vscode-languageserver-protocol/node";
import * as proto from "../../protocol";
import { ResultStore, type StoredResult } from "../../results";
import { answerAsVsCode, REPO, SKIP, spawnDaemon, testSettings } from "./realDaemon";


const URI = "file:///tmp/tokenlight-integration/example.py";
const TEXT = "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n";
const PROMPT = { start: { line: 0, character: 0 }, end: { line: 0, character: 14 } };

type ProgressValue = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

describe("protocol against the real daemon", { skip: SKIP, timeout: 300_000 }, () => {
    let daemon: ChildProcessWithoutNullStreams;
    let connection: ProtocolConnection;
    let stderr = "";
    const shown: string[] = [];
    let cacheDir = "";
    const dropped: proto.ResultsDroppedParams[] = [];

    before(async () => {
        ({ child: daemon, cacheDir } = spawnDaemon([]));
        daemon.stderr.on("data", (chunk: Buffer) => {
            stderr += chunk.toString("utf8");
        });
        connection = createProtocolConnection(new StreamMessageReader(daemon.stdout), new StreamMessageWriter(daemon.stdin));
        answerAsVsCode(connection, (message) => shown.push(message));
        connection.onNotification(proto.resultsDropped, (params) => dropped.push(params));
        connection.listen();

        const init = await connection.sendRequest(InitializeRequest.type, {
            processId: process.pid,
            rootUri: null,
            capabilities: {
                window: { workDoneProgress: true },
                workspace: { configuration: true, inlayHint: { refreshSupport: true } },
                textDocument: {
                    hover: { contentFormat: ["markdown", "plaintext"] },
                    inlayHint: {},
                    synchronization: { didSave: false },
                },
            },
            initializationOptions: { tokenlight: testSettings(3) } satisfies proto.InitializationOptions,
        });
        assert.ok(init.capabilities.hoverProvider, "the daemon offers hovers");
        assert.ok(init.capabilities.inlayHintProvider, "the daemon offers inlay hints");
        await connection.sendNotification(InitializedNotification.type, {});
        await connection.sendNotification(DidOpenTextDocumentNotification.type, {
            textDocument: { uri: URI, languageId: "python", version: 1, text: TEXT },
        });
    });

    after(async () => {
        try {
            await Promise.race([connection.sendRequest(ShutdownRequest.type), delay(10_000)]);
            await connection.sendNotification(ExitNotification.type);
        } catch {
            // A daemon that is already gone has nothing to shut down.
        }
        await Promise.race([new Promise((resolve) => daemon.once("exit", resolve)), delay(10_000)]);
        if (daemon.exitCode === null) {
            daemon.kill();
        }
        connection.dispose();
        fs.rmSync(cacheDir, { recursive: true, force: true });
    });

    function listen(token: string): ProgressValue[] {
        const values: ProgressValue[] = [];
        connection.onProgress(WorkDoneProgress.type, token, (value) => values.push(value));
        return values;
    }

    async function attribute(
        params: Partial<proto.AttributeParams>,
        token?: CancellationTokenSource,
    ): Promise<proto.AttributeResult> {
        const full: proto.AttributeParams = {
            textDocument: { uri: URI },
            range: PROMPT,
            target: { kind: "generate", maxNewTokens: 3 },
            method: "integrated_gradients",
            options: { nSteps: 4, baseline: "zero", stepFunction: "logit" },
            ...params,
        };
        return connection.sendRequest(proto.attribute, full, token?.token);
    }

    let first: proto.AttributeResult | undefined;

    it("lists the methods (tokenlight/methods)", async () => {
        const methods = await connection.sendRequest(proto.methods, {});
        const ids = methods.map((m) => m.id);
        for (const id of ["saliency", "integrated_gradients"]) {
            assert.ok(ids.includes(id), `${id} in ${ids.join(", ")}`);
        }
        for (const m of methods) {
            assert.equal(typeof m.label, "string");
            assert.equal(typeof m.description, "string");
            assert.equal(typeof m.family, "string");
            assert.equal(typeof m.convergenceDelta, "boolean");
        }
        assert.equal(methods.find((m) => m.id === "integrated_gradients")?.convergenceDelta, true);
        assert.equal(methods.find((m) => m.id === "saliency")?.convergenceDelta, false);
        // The tokenlight.method setting offers exactly the daemon's methods, in its order.
        const manifest = JSON.parse(fs.readFileSync(path.join(REPO, "extension", "package.json"), "utf8")) as {
            contributes: { configuration: { properties: Record<string, { enum?: string[]; enumDescriptions?: string[] }> } };
        };
        const setting = manifest.contributes.configuration.properties["tokenlight.method"];
        assert.deepEqual(setting.enum, ids);
        assert.equal(setting.enumDescriptions?.length, ids.length);
    });

    it("attributes a continuation (tokenlight/attribute) with work-done progress", async () => {
        const values = listen("it-attribute-1");
        const result = await attribute({ workDoneToken: "it-attribute-1" });
        first = result;
        assert.equal(typeof result.id, "string");
        assert.equal(result.method, "integrated_gradients");
        assert.equal(typeof result.model.name, "string");
        assert.equal(typeof result.model.device, "string");
        const S = result.sourceTokens.length;
        const T = result.targetTokens.length;
        assert.ok(S > 0 && T > 0 && T <= 3, `S=${S} T=${T}`);
        assert.equal(result.scores.length, T);
        result.scores.forEach((row, t) => {
            assert.equal(row.length, S + T, "row t covers every source and target position");
            // causal boundary: target t is attributed to sources and to targets before it only
            for (let j = S + t; j < S + T; j++) {
                assert.equal(row[j], null, `scores[${t}][${j}] after the boundary`);
            }
            for (let j = 0; j < S; j++) {
                assert.equal(typeof row[j], "number");
            }
        });
        assert.ok(result.deltas !== null && result.deltas.length === T, "IG reports one delta per target");
        assert.equal(result.targetScores.length, T);
        for (const token of result.sourceTokens) {
            if (token.range !== null) {
                assert.equal(token.range.start.line, 0, "source tokens lie in the selection");
                assert.ok(token.range.end.character <= 14);
            }
        }
        for (const token of result.targetTokens) {
            assert.equal(token.range, null, "generated tokens are not in the document");
            assert.ok(token.probability >= 0 && token.probability <= 1);
        }
        assert.ok(values.some((v) => v.kind === "begin"), "progress began");
        assert.ok(values.some((v) => v.kind === "end"), "progress ended");
    });

    it("serves a hover and clickable inlay hints for the result", async () => {
        assert.ok(first !== undefined);
        const token = first.sourceTokens.find((t) => t.range !== null);
        assert.ok(token?.range);
        const hover = await connection.sendRequest(HoverRequest.type, {
            textDocument: { uri: URI },
            position: token.range.start,
        });
        assert.ok(hover !== null, "a hover over a source token");
        const hints: InlayHint[] | null = await connection.sendRequest(InlayHintRequest.type, {
            textDocument: { uri: URI },
            range: { start: { line: 0, character: 0 }, end: { line: 4, character: 0 } },
        });
        assert.ok(hints !== null && hints.length > 0, "the continuation as ghost text");
        const commands = hints.flatMap((h) => (Array.isArray(h.label) ? h.label.map((p) => p.command) : []));
        const focus = commands.find((c) => c?.command === proto.FOCUS_TARGET_COMMAND);
        assert.ok(focus !== undefined, "label parts carry tokenlight.focusTarget");
        assert.deepEqual(focus.arguments, [first.id, 0]);
    });

    it("focuses a target (tokenlight/focus) and rejects an unknown result", async () => {
        assert.ok(first !== undefined);
        assert.equal(await connection.sendRequest(proto.focus, { id: first.id, target: 0 }), null);
        assert.equal(await connection.sendRequest(proto.focus, { id: first.id, target: null }), null);
        await assert.rejects(
            connection.sendRequest(proto.focus, { id: "no-such-result", target: 0 }),
            (error: unknown) => error instanceof ResponseError && error.code === proto.ErrorCodes.InvalidParams,
        );
    });

    it("answers tokenlight/status", async () => {
        const status = await connection.sendRequest(proto.status, {});
        assert.equal(typeof status.busy, "boolean");
        assert.equal(typeof status.cache.entries, "number");
    });

    it("cancels a long attribution via $/cancelRequest (RequestCancelled), then serves the next", async (t) => {
        const source = new CancellationTokenSource();
        const values = listen("it-cancel");
        const pending = attribute(
            { workDoneToken: "it-cancel", target: { kind: "generate", maxNewTokens: 8 }, options: { nSteps: 1024 } },
            source,
        );
        // Cancel once the job has started (its progress began), or after a few seconds at most.
        const started = Date.now();
        while (!values.some((v) => v.kind === "begin") && Date.now() - started < 5000) {
            await delay(50);
        }
        const cancelledAt = Date.now();
        t.diagnostic(`cancelled ${cancelledAt - started} ms after sending (progress: ${values.map((v) => v.kind).join(",")})`);
        source.cancel();
        await assert.rejects(pending, (error: unknown) => {
            assert.ok(error instanceof ResponseError, `a ResponseError, got ${String(error)}`);
            assert.equal(error.code, proto.ErrorCodes.RequestCancelled);
            return true;
        });
        t.diagnostic(`RequestCancelled arrived ${Date.now() - cancelledAt} ms after the cancel`);
        const nextAt = Date.now();
        const next = await attribute({ options: { nSteps: 4 }, target: { kind: "generate", maxNewTokens: 2 } });
        t.diagnostic(`the next attribution took ${Date.now() - nextAt} ms`);
        assert.ok(next.targetTokens.length > 0, "the daemon still answers after a cancellation");
    });

    it("attributes the following text with document ranges for the targets", async () => {
        const result = await attribute({
            range: { start: { line: 0, character: 0 }, end: { line: 1, character: 4 } },
            target: { kind: "following", maxTokens: 4 },
        });
        assert.ok(result.targetTokens.length > 0);
        const ranged = result.targetTokens.filter((t) => t.range !== null);
        assert.ok(ranged.length > 0, "forced targets of the document have ranges");
        assert.deepEqual(ranged[0].range?.start, { line: 1, character: 4 });
    });

    it("reports bad input as an actionable error and stays up", async () => {
        await assert.rejects(
            attribute({ method: "no_such_method" }),
            (error: unknown) => error instanceof ResponseError && /no_such_method/.test(error.message),
        );
        const status = await connection.sendRequest(proto.status, {});
        assert.equal(typeof status.busy, "boolean");
    });

    it("clears a document's results (tokenlight/clear)", async () => {
        assert.equal(await connection.sendRequest(proto.clear, { textDocument: { uri: URI } }), null);
        const hints: InlayHint[] | null = await connection.sendRequest(InlayHintRequest.type, {
            textDocument: { uri: URI },
            range: { start: { line: 0, character: 0 }, end: { line: 4, character: 0 } },
        });
        assert.equal(hints?.length ?? 0, 0, "no hints after clear");
        assert.ok(first !== undefined);
        await assert.rejects(connection.sendRequest(proto.focus, { id: first.id, target: 0 }));
    });

    it("keeps several results per document; the extension's ResultStore drops exactly what the daemon drops", async () => {
        // The extension applies the daemon's rules itself (a new result replaces the ones it
        // overlaps; an edit drops the ones whose text it touches) and the daemon also names what it
        // dropped (tokenlight/resultsDropped). Here the real daemon's answers to tokenlight/focus
        // say which results live, and its notifications must agree with the store.
        const store = new ResultStore();
        const droppedHere = (): [string[], string][] =>
            dropped.filter((d) => d.uri === URI && d.reason !== "cleared").map((d) => [d.ids, d.reason]);
        const before = droppedHere().length;
        const alive = async (id: string): Promise<boolean> => {
            try {
                await connection.sendRequest(proto.focus, { id, target: null });
                return true;
            } catch (error) {
                assert.ok(error instanceof ResponseError && error.code === proto.ErrorCodes.InvalidParams, String(error));
                return false;
            }
        };
        const run = async (range: typeof PROMPT): Promise<{ stored: StoredResult; replaced: string[] }> => {
            const result = await attribute({ range, method: "saliency", options: {}, target: { kind: "generate", maxNewTokens: 1 } });
            const stored: StoredResult = { uri: URI, result, selection: range, request: { target: { kind: "generate" } }, focus: null };
            return { stored, replaced: store.add(stored).map((r) => r.result.id) };
        };
        const line0 = PROMPT; // "def add(a, b):"
        const line1 = { start: { line: 1, character: 4 }, end: { line: 1, character: 16 } }; // "return a + b"
        const a = await run(line0);
        const b = await run(line1);
        assert.deepEqual([await alive(a.stored.result.id), await alive(b.stored.result.id)], [true, true], "two results live side by side");
        assert.deepEqual(b.replaced, []);
        assert.equal(store.forUri(URI).length, 2);

        const c = await run({ start: { line: 0, character: 4 }, end: { line: 0, character: 14 } });
        assert.deepEqual(c.replaced, [a.stored.result.id], "the store predicts the replacement");
        assert.deepEqual(
            [await alive(a.stored.result.id), await alive(b.stored.result.id), await alive(c.stored.result.id)],
            [false, true, true],
            "the daemon replaced the overlapped result only",
        );

        // Typing inside "return a + b" drops that result in both.
        const edit = { range: { start: { line: 1, character: 11 }, end: { line: 1, character: 11 } }, text: "x" };
        await connection.sendNotification(DidChangeTextDocumentNotification.type, {
            textDocument: { uri: URI, version: 2 },
            contentChanges: [edit],
        });
        const outcome = store.applyChanges(URI, [edit]);
        assert.deepEqual(outcome.dropped.map((r) => r.result.id), [b.stored.result.id]);
        assert.deepEqual([await alive(b.stored.result.id), await alive(c.stored.result.id)], [false, true]);
        assert.deepEqual(store.forUri(URI).map((r) => r.result.id), [c.stored.result.id]);
        await connection.sendRequest(proto.status, {}); // a round trip: earlier notifications have arrived
        assert.deepEqual(droppedHere().slice(before), [
            [[a.stored.result.id], "replaced"],
            [[b.stored.result.id], "edited"],
        ]);
    });

    it("compares methods (tokenlight/compare) and evaluates a result (options.evaluate) in the shapes protocol.ts declares", async () => {
        const report = await connection.sendRequest(proto.compare, {
            textDocument: { uri: URI },
            range: PROMPT,
            target: { kind: "text", text: "\n" },
            methods: ["saliency", "occlusion", "not_a_method"],
        });
        assert.deepEqual(report.methods.map((m) => [m.id, m.status]), [
            ["saliency", "ok"],
            ["occlusion", "ok"],
            ["not_a_method", "refused"],
        ]);
        assert.equal(report.fractions?.length, 11);
        assert.equal(report.methods[0].deletion?.length, 11);
        assert.ok(report.recommendation.method === "saliency" || report.recommendation.method === "occlusion");
        const evaluated = await attribute({ method: "saliency", options: { evaluate: true, randomOrders: 1 } });
        assert.equal(evaluated.faithfulness?.targets.length, evaluated.targetTokens.length);
        assert.equal(evaluated.faithfulness?.randomOrders, 1);
        const same = await connection.sendRequest(proto.against, {
            textDocument: { uri: URI },
            range: PROMPT,
            otherRange: PROMPT,
            target: { kind: "text", text: "\n" },
            method: "saliency",
        });
        assert.ok(same.aligned.every((row) => (row.difference ?? [1]).every((d) => d === 0)));
    });

    it("never told the user about a problem with the settings the extension sends", () => {
        // The daemon shows a message for unknown or bad settings: the extension's must be clean.
        assert.deepEqual(shown.filter((m) => /setting/i.test(m)), [], stderr.slice(-2000));
    });
});

function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
