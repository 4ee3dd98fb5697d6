import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changedTokens, diffHtml } from "../../diffHtml";
import type { AttributeResult, DiffResult } from "../../protocol";

function result(id: string, sources: string[], targets: string[], scores: (number | null)[][]): AttributeResult {
    return {
        id,
        model: { name: "m", device: "cpu", dtype: "float32" },
        method: "saliency",
        sourceTokens: sources.map((text) => ({ text, range: null, special: false })),
        targetTokens: targets.map((text) => ({ text, range: null, probability: 0.5 })),
        scores,
        deltas: null,
        targetScores: targets.map(() => 0),
        elapsedMs: 1,
        cached: false,
    };
}

// A: "def f(" ; B: "def <script>f(" — one token added by the edit
const A = result("a", ["def", " f", "("], ["x", "y"], [
    [1, 2, 3, null, null],
    [0.5, 0.5, 0.5, 1, null],
]);
const B = result("b", ["def", " <script>", " f", "("], ["x", "y"], [
    [1, 9, 2.5, 4, null, null],
    [0.5, 0, 0.25, 0.5, 2, null],
]);
// what the daemon answers for these two (its alignment: sources 0↔0, 1↔2, 2↔3; targets 0↔0, 1↔1)
const DIFF: DiffResult = {
    a: { method: "saliency", stepFunction: "logit" },
    b: { method: "saliency", stepFunction: "logit" },
    sourceTokens: [
        { text: "def", indexA: 0, indexB: 0 },
        { text: " f", indexA: 1, indexB: 2 },
        { text: "(", indexA: 2, indexB: 3 },
    ],
    targetTokens: [
        { text: "x", indexA: 0, indexB: 0 },
        { text: "y", indexA: 1, indexB: 1 },
    ],
    scores: [
        [0, 0.5, 1, null, null],
        [0, -0.25, 0, 1, null],
    ],
    onlyInA: { sources: [], targets: [] },
    onlyInB: { sources: [{ text: " <script>", index: 1 }], targets: [] },
    maxAbsDifference: 1,
};

describe("Compare With Previous", () => {
    it("lists each target's changed tokens, largest |B − A| first, with A and B read by the aligned indices", () => {
        const rows = changedTokens(DIFF, A, B);
        assert.deepEqual(rows[0], [
            { text: "(", a: 3, b: 4, difference: 1 },
            { text: " f", a: 2, b: 2.5, difference: 0.5 },
        ]);
        // target columns: A's "x" is column 3 of A, column 4 of B
        assert.deepEqual(rows[1], [
            { text: "x", a: 1, b: 2, difference: 1 },
            { text: " f", a: 0.5, b: 0.25, difference: -0.25 },
        ]);
        // for every row, B − A is what the two results say
        for (const row of rows.flat()) {
            assert.equal(row.b! - row.a!, row.difference);
        }
    });
    it("escapes every token, lists the tokens in one result only, and runs no script", () => {
        const html = diffHtml({ diff: DIFF, a: A, b: B, where: "a.py, lines 1–1", cspSource: "vscode-resource:", nonce: "n0" });
        assert.ok(!html.includes("<script>"), "a token is text, never markup");
        assert.ok(html.includes("&lt;script&gt;"));
        assert.match(html, /Only in the current result: sources <code>·&lt;script&gt;<\/code>/);
        assert.match(html, /Only in the previous result: sources none; targets none/);
        assert.match(html, /default-src 'none'; style-src vscode-resource: 'nonce-n0';/);
        assert.match(html, /largest \|B − A\| = 1\.000\./);
        assert.equal((html.match(/<h2>/g) ?? []).length, 2);
    });
});
