import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Span } from "../../protocol";
import type { StoredResult } from "../../results";
import { COMMAND_IDS } from "../../commandIds";
import { colourRanges } from "../../palette";
import {
    drilledSpan,
    lineHeat,
    shareLabel,
    showsSpans,
    spanAt,
    spanHoverMarkdown,
    spanLines,
    spanShares,
    spanTokensScored,
    tokenView,
    topSpans,
} from "../../spanView";

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
    it("links the hover to the drill-down, and a drilled span's hover back to the span view", () => {
        const md = spanHoverMarkdown(stored, 1);
        const args = encodeURIComponent(JSON.stringify(["r1", 1]));
        assert.ok(md.includes(`[Show tokens in this span](command:${COMMAND_IDS.drillDown}?${args})`), md);
        const back = spanHoverMarkdown({ ...stored, drill: 1 }, 1);
        assert.ok(back.includes(`[Back to the span view](command:${COMMAND_IDS.showSpans}?${encodeURIComponent('["r1"]')})`), back);
    });

    describe("drill-down", () => {
        const key = (r: { start: { character: number } }): string => String(r.start.character);
        it("the span view colours no token; a result without coarse spans colours all of them", () => {
            assert.equal(showsSpans(stored), true);
            assert.equal(tokenView(stored), undefined);
            const tokensOnly: StoredResult = { ...stored, result: { ...stored.result, spans: [] } };
            assert.equal(tokenView(tokensOnly), tokensOnly);
            assert.equal(showsSpans(tokensOnly), false);
        });
        it("a drilled span colours exactly its own tokens, on a scale of its own, with the result's scores", () => {
            const drilled = { ...stored, drill: 1 };
            assert.equal(drilledSpan(drilled), 1);
            const view = tokenView(drilled);
            assert.ok(view !== undefined);
            const coloured = colourRanges(view, "target", 1, key);
            // span 1 holds tokens 1..2 (characters 1 and 2); summed over targets: 2.25 and 0.75
            assert.deepEqual(
                coloured.map((c) => [key(c.range), c.value]),
                [
                    ["1", 2.25],
                    ["2", 0.75],
                ],
            );
            // the strongest token of the span takes the top level: the scale is the span's, not the
            // result's (token 3's -3 and the BOS's 5 would otherwise dim it)
            assert.equal(coloured[0].colour.level, 10);
            assert.equal(coloured[0].colour.sign, "positive");
        });
        it("an index past the spans counts as no drill-down; unscored span tokens are known", () => {
            assert.equal(drilledSpan({ ...stored, drill: 9 }), undefined);
            assert.equal(drilledSpan({ ...stored, drill: null }), undefined);
            const partly: StoredResult = {
                ...stored,
                focus: 1,
                result: {
                    ...stored.result,
                    spans: SPANS.map((s, i) => ({ ...s, drilled: i === 1 ? [true, false] : null })),
                },
            };
            assert.equal(spanTokensScored(partly, 1), false);
            assert.equal(spanTokensScored({ ...partly, focus: 0 }, 1), true);
            assert.equal(spanTokensScored({ ...partly, focus: null }, 1), true);
            assert.equal(spanTokensScored(partly, 2), true);
        });
    });
});
