import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    attributionVector,
    colourRanges,
    divergingRgb,
    LEVELS,
    levelStyle,
    maxAbs,
    normalisationScale,
    PALETTES,
    quantise,
    sumRows,
    textRgb,
} from "../../palette";

describe("maxAbs", () => {
    it("takes the largest finite magnitude, ignoring null and NaN", () => {
        assert.equal(maxAbs([0.5, -2, null, Number.NaN, 1]), 2);
    });
    it("falls back to 1.0 when nothing is finite or all is zero", () => {
        assert.equal(maxAbs([null, Number.NaN]), 1.0);
        assert.equal(maxAbs([0, 0]), 1.0);
        assert.equal(maxAbs([]), 1.0);
    });
});

describe("sumRows", () => {
    it("sums columns ignoring null, and keeps all-null columns null", () => {
        const rows = [
            [1, 2, null],
            [3, null, null],
        ];
        assert.deepEqual(sumRows(rows), [4, 2, null]);
    });
});

describe("attributionVector", () => {
    const scores = [
        [1, -1, null],
        [2, 0.5, 3],
    ];
    it("is the focused row", () => {
        assert.deepEqual(attributionVector(scores, 1), [2, 0.5, 3]);
    });
    it("is the sum over targets without a focus or with an out-of-range one", () => {
        assert.deepEqual(attributionVector(scores, null), [3, -0.5, 3]);
        assert.deepEqual(attributionVector(scores, 7), [3, -0.5, 3]);
    });
});

describe("normalisationScale", () => {
    const scores = [
        [1, -4],
        [2, 0.5],
    ];
    it("target: the max |score| of the vector on show", () => {
        assert.equal(normalisationScale("target", scores, scores[1], 1), 2);
    });
    it("global: the max over every row (and the summed vector)", () => {
        assert.equal(normalisationScale("global", scores, scores[1], 1), 4);
        assert.equal(normalisationScale("global", scores, [3, -3.5], 1), 4);
        assert.equal(normalisationScale("global", [[1, 1]], [2, 2], 1), 2);
    });
    it("none: the fixed scale, 1.0 when it is not positive", () => {
        assert.equal(normalisationScale("none", scores, scores[1], 0.25), 0.25);
        assert.equal(normalisationScale("none", scores, scores[1], 0), 1.0);
        assert.equal(normalisationScale("none", scores, scores[1], Number.NaN), 1.0);
    });
});

describe("quantise", () => {
    it("keeps the sign and saturates at the scale", () => {
        assert.deepEqual(quantise(2, 2), { sign: "positive", level: LEVELS });
        assert.deepEqual(quantise(-5, 2), { sign: "negative", level: LEVELS });
    });
    it("maps magnitudes linearly onto levels 1..LEVELS", () => {
        assert.deepEqual(quantise(0.5, 1, 8), { sign: "positive", level: 4 });
        assert.deepEqual(quantise(-0.51, 1, 8), { sign: "negative", level: 5 });
    });
    it("gives a tiny non-zero score level 1, so it stays visible", () => {
        assert.deepEqual(quantise(1e-9, 1), { sign: "positive", level: 1 });
    });
    it("gives no colour to zero, null and NaN", () => {
        assert.equal(quantise(0, 1), undefined);
        assert.equal(quantise(null, 1), undefined);
        assert.equal(quantise(Number.NaN, 1), undefined);
    });
    it("treats a bad scale as 1.0", () => {
        assert.deepEqual(quantise(0.5, 0, 8), { sign: "positive", level: 4 });
    });
});

describe("levelStyle", () => {
    const palette = PALETTES.blueOrange;
    it("uses different hues for the two signs", () => {
        const pos = levelStyle(palette, "light", "positive", 8);
        const neg = levelStyle(palette, "light", "negative", 8);
        assert.notEqual(pos.backgroundColor, neg.backgroundColor);
        assert.match(pos.backgroundColor, /^rgba\(230, 97, 1, /);
        assert.match(neg.backgroundColor, /^rgba\(33, 102, 172, /);
    });
    it("grows alpha with the level", () => {
        const alpha = (s: string): number => Number(/, ([\d.]+)\)$/.exec(s)?.[1]);
        const low = alpha(levelStyle(palette, "dark", "positive", 1).backgroundColor);
        const high = alpha(levelStyle(palette, "dark", "positive", 8).backgroundColor);
        assert.ok(low < high, `${low} < ${high}`);
    });
    it("uses the lighter stop on dark themes", () => {
        assert.match(levelStyle(palette, "dark", "negative", 4).backgroundColor, /^rgba\(146, 197, 222, /);
    });
    it("adds a border in high contrast, whose style carries the sign", () => {
        assert.equal(levelStyle(palette, "light", "positive", 3).border, undefined);
        assert.match(levelStyle(palette, "highContrast", "positive", 3).border ?? "", /solid/);
        assert.match(levelStyle(palette, "highContrastLight", "negative", 3).border ?? "", /dashed/);
    });
});

describe("divergingRgb and textRgb", () => {
    it("matches the CLI's stops at the ends (colors.diverging_rgb)", () => {
        assert.deepEqual(divergingRgb(PALETTES.blueOrange, 1, 1), [230, 97, 1]);
        assert.deepEqual(divergingRgb(PALETTES.blueOrange, -1, 1), [33, 102, 172]);
        assert.deepEqual(divergingRgb(PALETTES.blueOrange, 0.5, 1), [253, 184, 99]);
        assert.equal(divergingRgb(PALETTES.blueOrange, null, 1), undefined);
    });
    it("puts white text on saturated blue and black on light orange", () => {
        assert.deepEqual(textRgb([33, 102, 172]), [255, 255, 255]);
        assert.deepEqual(textRgb([253, 184, 99]), [0, 0, 0]);
    });
});

describe("colourRanges", () => {
    type R = { s: number; e: number };
    const key = (r: R): string => `${r.s}-${r.e}`;
    const stored = {
        focus: null as number | null,
        result: {
            sourceTokens: [{ range: null }, { range: { s: 0, e: 3 } }, { range: { s: 3, e: 4 } }, { range: { s: 3, e: 4 } }],
            targetTokens: [{ range: { s: 4, e: 6 } }, { range: { s: 6, e: 8 } }],
            scores: [
                [0.1, 1, -0.5, -0.5, null, null],
                [0.2, 0, 0.25, 0.25, 2, null],
            ],
        },
    };
    it("skips special tokens without a range and merges tokens sharing one (summed)", () => {
        const out = colourRanges({ ...stored, focus: 0 }, "target", 1, key);
        assert.deepEqual(
            out.map((c) => [key(c.range), c.value, c.colour.sign, c.colour.level]),
            [
                ["0-3", 1, "positive", 8],
                ["3-4", -1, "negative", 8],
            ],
        );
    });
    it("colours following-mode targets by the focused row on positions S..S+T-1", () => {
        const out = colourRanges({ ...stored, focus: 1 }, "target", 1, key);
        const byKey = new Map(out.map((c) => [key(c.range), c]));
        assert.equal(byKey.get("4-6")?.value, 2);
        assert.equal(byKey.get("4-6")?.colour.level, 8);
        assert.equal(byKey.get("0-3"), undefined, "a zero score gets no colour");
        assert.equal(byKey.get("6-8"), undefined, "after the causal boundary: no colour");
    });
    it("uses the sum over targets when nothing is focused", () => {
        const out = colourRanges(stored, "none", 10, key);
        const byKey = new Map(out.map((c) => [key(c.range), c]));
        assert.equal(byKey.get("0-3")?.value, 1);
        assert.equal(byKey.get("3-4")?.value, -0.5);
        assert.equal(byKey.get("4-6")?.value, 2);
        assert.equal(byKey.get("4-6")?.colour.level, Math.ceil((2 / 10) * LEVELS));
    });
});
