/**
 * The editor features that work on a result the daemon sent, against the REAL daemon (as
 * daemon.test.ts): the span view's drill-down draws exactly the tokens of the chosen span with the
 * scores of the result's token matrix; Compare With Previous finds the result an edit dropped and
 * shows the daemon's `tokenlight/diff` of it and the new one; the daemon's step functions. Skipped,
 * saying why, only where the repository's .venv does not exist (run `make setup`).
 */
import assert from "node:assert/strict";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import {
    createProtocolConnection,
    DidChangeTextDocumentNotification,
    DidOpenTextDocumentNotification,
    ExitNotification,
    InitializedNotification,
    InitializeRequest,
    ShutdownRequest,
    StreamMessageReader,
    StreamMessageWriter,
    type ProtocolConnection,
} from "vscode-languageserver-protocol/node";
import { changedTokens } from "../../diffHtml";
import { OPTION_CHOICES } from "../../generated/options";
import { colourRanges } from "../../palette";
import * as proto from "../../protocol";
import { ResultStore, type Range, type StoredResult } from "../../results";
import { showsSpans, spanLines, tokenView, topSpans } from "../../spanView";
import { answerAsVsCode, SKIP, spawnDaemon, testSettings } from "./realDaemon";

const URI = "file:///tmp/tokenlight-integration/editor.py";
const TEXT = "import os\n\ndef area(w, h):\n    return w * h\n\nprint(area(2, 3))\n";
// the cursor at the end of line 5: with context "document" the model sees lines 0..5
const CURSOR = { start: { line: 5, character: 0 }, end: { line: 5, character: 17 } };

function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function inside(range: Range, outer: Range): boolean {
    const le = (a: Range["start"], b: Range["start"]): boolean =>
        a.line < b.line || (a.line === b.line && a.character <= b.character);
    return le(outer.start, range.start) && le(range.end, outer.end);
}

describe("editor features against the real daemon", { skip: SKIP, timeout: 300_000 }, () => {
    let daemon: ChildProcessWithoutNullStreams;
    let connection: ProtocolConnection;
    let cacheDir = "";

    before(async () => {
        ({ child: daemon, cacheDir } = spawnDaemon([]));
        connection = createProtocolConnection(new StreamMessageReader(daemon.stdout), new StreamMessageWriter(daemon.stdin));
        answerAsVsCode(connection);
        connection.listen();
        await connection.sendRequest(InitializeRequest.type, {
            processId: process.pid,
            rootUri: null,
            capabilities: { window: { workDoneProgress: true } },
            initializationOptions: { tokenlight: testSettings(2) } satisfies proto.InitializationOptions,
        });
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

    it("drills down from a line span to its tokens' colours, and only those", async () => {
        const result = await connection.sendRequest(proto.attribute, {
            textDocument: { uri: URI },
            range: CURSOR,
            target: { kind: "generate", maxNewTokens: 2 },
            method: "input_x_gradient",
            options: { context: "document", granularity: "line" },
        });
        const store = new ResultStore();
        const stored: StoredResult = {
            uri: URI,
            result,
            selection: CURSOR,
            request: { target: { kind: "generate" } },
            focus: null,
        };
        store.add(stored);
        assert.ok(showsSpans(stored), "line spans");
        assert.equal(tokenView(stored), undefined, "the span view colours no token");
        const spans = result.spans ?? [];
        const top = topSpans(spans, null, 1)[0];
        assert.ok(top !== undefined, "a top span");
        const span = spans[top];
        assert.ok(span.range !== null && spanLines(span) !== undefined);

        const drilled = store.setDrill(result.id, top);
        assert.ok(drilled !== undefined);
        const view = tokenView(drilled);
        assert.ok(view !== undefined);
        const key = (r: Range): string => JSON.stringify(r);
        const coloured = colourRanges(view, "target", 1, key);
        assert.ok(coloured.length > 0, "the span's tokens are coloured");
        // every coloured range is one of the span's own tokens, with the sum over targets of its
        // column of the daemon's token matrix
        const [first, last] = span.tokens;
        const own = new Map<string, number>();
        for (let col = first; col <= last; col++) {
            const token = result.sourceTokens[col];
            if (token.range !== null) {
                const sum = result.scores.reduce((s, row) => s + (row[col] ?? 0), 0);
                own.set(key(token.range), (own.get(key(token.range)) ?? 0) + sum);
            }
        }
        for (const c of coloured) {
            assert.ok(inside(c.range, span.range), `${key(c.range)} inside ${key(span.range)}`);
            const expected = own.get(key(c.range));
            assert.ok(expected !== undefined, `${key(c.range)} is a token of the span`);
            assert.ok(Math.abs(c.value - expected) < 1e-9, `${c.value} vs ${expected}`);
        }
        // input × gradient is additive: the span's score is the sum of its tokens' scores
        const total = [...own.values()].reduce((a, b) => a + b, 0);
        const spanTotal = span.scores.reduce<number>((a, b) => a + (b ?? 0), 0);
        assert.ok(Math.abs(total - spanTotal) <= 1e-4 * Math.max(1, Math.abs(spanTotal)), `${total} vs ${spanTotal}`);

        const back = store.setDrill(result.id, null);
        assert.ok(back !== undefined && tokenView(back) === undefined, "back to the span view");
    });

    it("Compare With Previous: the result an edit dropped against the new one, diffed by the daemon", async () => {
        const uri = "file:///tmp/tokenlight-integration/previous.py";
        const before = "def area(w, h):\n    return w * h\n";
        await connection.sendNotification(DidOpenTextDocumentNotification.type, {
            textDocument: { uri, languageId: "python", version: 1, text: before },
        });
        const run = (end: number): Promise<proto.AttributeResult> =>
            connection.sendRequest(proto.attribute, {
                textDocument: { uri },
                range: { start: { line: 0, character: 0 }, end: { line: 0, character: end } },
                target: { kind: "text", text: "\n    return" },
                method: "saliency",
            });
        const store = new ResultStore();
        const a = await run(15);
        const selectionA = { start: { line: 0, character: 0 }, end: { line: 0, character: 15 } };
        store.add({ uri, result: a, selection: selectionA, request: { target: { kind: "generate" } }, focus: null });
        // the user edits the selection ("h" -> "h, d"), as VS Code reports it to both sides
        const change = { range: { start: { line: 0, character: 13 }, end: { line: 0, character: 13 } }, text: ", d" };
        await connection.sendNotification(DidChangeTextDocumentNotification.type, {
            textDocument: { uri, version: 2 },
            contentChanges: [change],
        });
        assert.deepEqual(store.applyChanges(uri, [change]).dropped.map((d) => d.result.id), [a.id]);
        const b = await run(18);
        const selectionB = { start: { line: 0, character: 0 }, end: { line: 0, character: 18 } };
        const current: StoredResult = { uri, result: b, selection: selectionB, request: { target: { kind: "generate" } }, focus: null };
        store.add(current);
        const previous = store.previous(current);
        assert.equal(previous?.result.id, a.id, "the dropped result is the range's previous one");

        const d = await connection.sendRequest(proto.diff, { a: a, b: b });
        assert.ok(d.onlyInB.sources.map((t) => t.text).join("").includes("d"), JSON.stringify(d.onlyInB));
        assert.deepEqual(d.onlyInA.sources, []);
        assert.equal(d.targetTokens.length, b.targetTokens.length);
        // what the panel lists is B − A as the two results say it
        const rows = changedTokens(d, a, b, Infinity);
        assert.ok(rows.flat().length > 0, "some score changed");
        for (const row of rows.flat()) {
            assert.ok(row.a !== null && row.b !== null);
            assert.ok(Math.abs(row.b - row.a - row.difference) < 1e-9, JSON.stringify(row));
        }
        // a result against itself: nothing changed
        const same = await connection.sendRequest(proto.diff, { a: b, b: b });
        assert.equal(same.maxAbsDifference, 0);
        assert.deepEqual(changedTokens(same, b, b).flat(), []);
    });

    it("lists the step functions the setting suggests, and an unknown one is the daemon's clear error", async () => {
        const steps = await connection.sendRequest(proto.stepFunctions, {});
        const builtins = steps.filter((s) => s.origin === "builtin").map((s) => s.id);
        assert.deepEqual(builtins, [...OPTION_CHOICES.stepFunction]);
        await assert.rejects(
            connection.sendRequest(proto.attribute, {
                textDocument: { uri: URI },
                range: CURSOR,
                method: "saliency",
                options: { stepFunction: "vibes" },
            }),
            (error: unknown) => {
                const message = error instanceof Error ? error.message : String(error);
                assert.match(message, /unknown step function 'vibes'; the daemon has: logit, /);
                assert.match(message, /entry point in group tokenlight\.step_functions/);
                return true;
            },
        );
    });
});
