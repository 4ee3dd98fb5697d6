import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { colourRanges } from "../../palette";
import { PartialAssembly } from "../../partial";
import type { AttributeResult, SourceToken } from "../../protocol";
import { ResultStore, type Range } from "../../results";

const r = (sc: number, ec: number): Range => ({ start: { line: 0, character: sc }, end: { line: 0, character: ec } });
const sources: SourceToken[] = [
    { text: "<bos>", range: null, special: true },
    { text: "x", range: r(0, 1), special: false },
    { text: " =", range: r(1, 3), special: false },
];

describe("PartialAssembly", () => {
    it("shows nothing until the source tokens are known, then every finished row in target order", () => {
        const assembly = new PartialAssembly("partial-1", "integrated_gradients");
        assert.equal(assembly.add({ targets: [2], scores: [[0.1, 0.2, 0.3, 0.4, 0.5]], deltas: [0.01] }), undefined);
        const shown = assembly.add({
            targets: [0, 1],
            scores: [
                [1, 2, 3, null, null],
                [4, 5, 6, 7, null],
            ],
            deltas: [0.02, 0.03],
            sourceTokens: sources,
        });
        assert.ok(shown !== undefined);
        assert.deepEqual(shown.scores, [
            [1, 2, 3, null, null],
            [4, 5, 6, 7, null],
            [0.1, 0.2, 0.3, 0.4, 0.5],
        ]);
        assert.deepEqual(shown.deltas, [0.02, 0.03, 0.01]);
        assert.deepEqual(assembly.finished, [0, 1, 2]);
        // the rows colour the source tokens as a whole result would
        const coloured = colourRanges({ result: shown, focus: null }, "target", 1, (x) => JSON.stringify(x));
        const values = coloured.map((c) => c.value);
        assert.equal(values.length, 2); // BOS has no range
        assert.ok(Math.abs(values[0] - 7.2) < 1e-9 && Math.abs(values[1] - 9.3) < 1e-9, String(values));
    });

    it("is replaced in the store by the final answer for the same selection", () => {
        const store = new ResultStore();
        const assembly = new PartialAssembly("partial-2", "occlusion");
        const provisional = assembly.add({ targets: [0], scores: [[1, 2, 3]], deltas: null, sourceTokens: sources });
        assert.ok(provisional !== undefined);
        const selection = r(0, 3);
        const request = { target: { kind: "generate" as const } };
        store.add({ uri: "file:///a", result: provisional, selection, request, focus: null });
        const final: AttributeResult = { ...provisional, id: "r7", targetTokens: [], scores: [[1, 2, 3]] };
        const replaced = store.add({ uri: "file:///a", result: final, selection, request, focus: null });
        assert.deepEqual(
            replaced.map((s) => s.result.id),
            ["partial-2"],
        );
        assert.deepEqual(
            store.forUri("file:///a").map((s) => s.result.id),
            ["r7"],
        );
    });
});
