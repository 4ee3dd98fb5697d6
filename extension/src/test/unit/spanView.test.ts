import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Span } from "../../protocol";
import type { StoredResult } from "../../results";
import { lineHeat, shareLabel, spanAt, spanHoverMarkdown, spanLines, spanShares, topSpans } from "../../spanView";

const range = (l0: number, c0: number, l1: number, c1: number) => ({
    start: { line: l0, character: c0 },
    end: { line: l1, character: c1 },
});

const SPANS: Span[] = [
    { kind: "special", label: "<|endoftext|>", range: null, scores: [5, 5], tokens: [0, 0], drilled: null },
    { kind: "function", label: "def parse_args", range: range(0, 0, 3, 0), scores: [1, 2], tokens: [1, 2], drilled: null },
    { kind: "block", label: "lines 4–5", range: range(3, 0, 4, 7), scores: [-3, null], tokens: [3, 3], drilled: null },
    { kind: "line", label: "line 6", range: range(5, 0, 5, 4), scores: [0.5, 0.5], tokens: [4, 4], drilled: null },
];

describe("span shares and the top spans", () => {
    it("shares are |value| over the total, summed over targets or for the focus", () => {
        const shares = spanShares(SPANS, null); // values 10, 3, -3, 1
        assert.deepEqual(shares, [10 / 17, 3 / 17, 3 / 17, 1 / 17]);
        assert.deepEqual(spanShares(SPANS, 1), [5 / 7.5, 2 / 7.5, 0, 0.5 / 7.5]);
    });
    it("the top spans leave out special tokens and order by |value|, ties by position", () => {
        assert.deepEqual(topSpans(SPANS, null, 2), [1, 2]);
        assert.deepEqual(topSpans(SPANS, 0, 3), [2, 1, 3]);
        assert.equal(shareLabel(SPANS[1], 0.314), "def parse_args — 31%");
    });
});

describe("line heat", () => {
    it("a span covers its lines; one ending at a line's start does not cover that line", () => {
        assert.deepEqual(spanLines(SPANS[1]), [0, 2]);
        assert.equal(spanLines(SPANS[0]), undefined);
        const heat = lineHeat(SPANS, null);
        assert.deepEqual([...heat.entries()], [[0, 3], [1, 3], [2, 3], [3, -3], [4, -3], [5, 1]]);
    });
});

describe("span hovers", () => {
    const stored: StoredResult = {
        uri: "file:///a.py",
        selection: range(5, 0, 5, 4),
        request: { target: { kind: "generate" } },
        focus: null,
        result: {
            id: "r1",
            model: { name: "m", device: "cpu", dtype: "float32" },
            method: "span_occlusion",
            sourceTokens: ["<s>", "def", " parse", "\n", "x"].map((text, i) => ({
                text,
                range: i === 0 ? null : range(0, i, 0, i + 1),
                special: i === 0,
            })),
            targetTokens: [],
            scores: [
                [5, 0.25, 0.75, -3, 0.5],
                [5, 2, 0, null, 0.5],
            ],
            deltas: null,
            targetScores: [],
            elapsedMs: 1,
            cached: false,
            spans: SPANS,
            spanFit: [0.91, 0.8],
        },
    };
    it("finds the span under a position", () => {
        assert.equal(spanAt(stored, 1, 3), 1);
        assert.equal(spanAt(stored, 3, 0), 2);
        assert.equal(spanAt(stored, 9, 0), undefined);
    });
    it("names the span, its share, its top tokens and the surrogate's fit", () => {
        const md = spanHoverMarkdown(stored, 1);
        assert.match(md, /\*\*def parse\\_args\*\* \(function\) — 18% of the attribution \(summed over targets\)/);
        assert.match(md, /top tokens: `"def"` \+2\.25, `" parse"` \+0\.750/);
        assert.match(md, /R² ≥ 0\.80/);
    });
});
