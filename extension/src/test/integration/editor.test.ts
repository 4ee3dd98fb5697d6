/**
 * The editor features that work on a result the daemon sent, against the REAL daemon (as
 * daemon.test.ts): the span view's drill-down draws exactly the tokens of the chosen span with the
 * scores of the result's token matrix. Skipped, saying why, only where the repository's .venv does
 * not exist (run `make setup`).
 */
import assert from "node:assert/strict";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import {
    createProtocolConnection,
    DidOpenTextDocumentNotification,
    ExitNotification,
    InitializedNotification,
    InitializeRequest,
    ShutdownRequest,
    StreamMessageReader,
    StreamMessageWriter,
    type ProtocolConnection,
} from "vscode-languageserver-protocol/node";
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
});
