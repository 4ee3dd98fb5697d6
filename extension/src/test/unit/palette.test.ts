import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    attributionVector,
    colourRanges,
    DEAD_ZONE,
    deltaE,
    divergingRgb,
    legend,
    legendCaption,
    levelBounds,
    LEVELS,
    levelStyle,
    relativeLuminance,
    specialPositions,
    specialShareLine,
    specialShares,
    THEME_BACKGROUND,
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
    it("maps magnitudes above the dead zone linearly onto levels 1..LEVELS", () => {
        // (0.5 − 0.05) / 0.95 × 10 = 4.74 → level 5; (0.52 − 0.05) / 0.95 × 10 = 4.95 → 5; 0.53 → 5.05 → 6
        assert.deepEqual(quantise(0.5, 1, 10, 0.05), { sign: "positive", level: 5 });
        assert.deepEqual(quantise(-0.52, 1, 10, 0.05), { sign: "negative", level: 5 });
        assert.deepEqual(quantise(0.53, 1, 10, 0.05), { sign: "positive", level: 6 });
        assert.deepEqual(quantise(0.5, 1, 8, 0), { sign: "positive", level: 4 });
    });
    it("leaves near-zero scores untinted (the dead zone) and tints just above it", () => {
        assert.equal(DEAD_ZONE, 0.05);
        assert.equal(quantise(1e-9, 1), undefined);
        assert.equal(quantise(-0.049, 1), undefined);
        assert.deepEqual(quantise(0.051, 1), { sign: "positive", level: 1 });
    });
    it("tells apart the issue's two tokens: 0.025 (untinted) and 1.16 (the strongest)", () => {
        assert.equal(quantise(0.025, 1.16), undefined);
        assert.deepEqual(quantise(1.16, 1.16), { sign: "positive", level: LEVELS });
    });
    it("gives no colour to zero, null and NaN", () => {
        assert.equal(quantise(0, 1), undefined);
        assert.equal(quantise(null, 1), undefined);
        assert.equal(quantise(Number.NaN, 1), undefined);
    });
    it("treats a bad scale as 1.0", () => {
        assert.deepEqual(quantise(0.5, 0, 8, 0), { sign: "positive", level: 4 });
    });
    it("has level bounds that tile (dead zone, 1]", () => {
        assert.deepEqual(levelBounds(1), [DEAD_ZONE, DEAD_ZONE + (1 - DEAD_ZONE) / LEVELS]);
        assert.ok(Math.abs(levelBounds(LEVELS)[1] - 1) < 1e-12);
        for (let level = 1; level < LEVELS; level++) {
            assert.ok(Math.abs(levelBounds(level)[1] - levelBounds(level + 1)[0]) < 1e-12);
        }
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
        const high = alpha(levelStyle(palette, "dark", "positive", LEVELS).backgroundColor);
        assert.ok(low < high, `${low} < ${high}`);
    });
    it("uses the darker orange on dark themes", () => {
        assert.match(levelStyle(palette, "dark", "positive", 4).backgroundColor, /^rgba\(179, 88, 6, /);
    });
    it("adds a border in high contrast, whose style carries the sign", () => {
        assert.equal(levelStyle(palette, "light", "positive", 3).border, undefined);
        assert.match(levelStyle(palette, "highContrast", "positive", 3).border ?? "", /solid/);
        assert.match(levelStyle(palette, "highContrastLight", "negative", 3).border ?? "", /dashed/);
    });
    for (const theme of ["light", "dark", "highContrast", "highContrastLight"] as const) {
        for (const sign of ["negative", "positive"] as const) {
            it(`${theme}, ${sign}: steps evenly in perceived colour (OKLab), each one distinguishable`, () => {
                const bg = THEME_BACKGROUND[theme];
                const swatches = [bg, ...Array.from({ length: LEVELS }, (_x, i) => levelStyle(palette, theme, sign, i + 1).swatch)];
                const steps = swatches.slice(1).map((c, i) => deltaE(swatches[i], c));
                // ~0.02 in OKLab is about a just-noticeable difference for side-by-side patches
                assert.ok(Math.min(...steps) > 0.02, `steps ${steps.map((x) => x.toFixed(3)).join(" ")}`);
                // even, up to rounding to 8-bit colours (which near black moves OKLab most)
                assert.ok(Math.max(...steps) / Math.min(...steps) < 2, `steps ${steps.map((x) => x.toFixed(3)).join(" ")}`);
            });
        }
        it(`${theme}: the strongest tint is far from the background and the theme's text stays readable on it`, () => {
            const bg = THEME_BACKGROUND[theme];
            const dark = theme === "dark" || theme === "highContrast";
            const text: [number, number, number] = dark ? [212, 212, 212] : [0, 0, 0];
            for (const sign of ["negative", "positive"] as const) {
                const strong = levelStyle(palette, theme, sign, LEVELS).swatch;
                assert.ok(deltaE(bg, strong) > 0.2, `${sign}: ΔE ${deltaE(bg, strong).toFixed(3)} from the background`);
                const l1 = relativeLuminance(text);
                const l2 = relativeLuminance(strong);
                const contrast = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
                assert.ok(contrast >= 4.5, `${sign}: text contrast ${contrast.toFixed(2)} on ${strong.join(",")}`);
            }
        });
    }
});

describe("legend", () => {
    it("runs from the strongest negative through the untinted dead zone to the strongest positive", () => {
        const entries = legend(PALETTES.blueOrange, "light");
        assert.equal(entries.length, 2 * LEVELS + 1);
        assert.equal(entries[0].sign, "negative");
        assert.equal(entries[0].level, LEVELS);
        assert.equal(entries[LEVELS].sign, "none");
        assert.deepEqual(entries[LEVELS].swatch, THEME_BACKGROUND.light);
        assert.equal(entries[2 * LEVELS].sign, "positive");
        assert.equal(entries[LEVELS + 1].range, "5%–15%");
        assert.match(legendCaption("target"), /untinted under 5%/);
        assert.match(legendCaption("target"), /special tokens \(BOS\) are left out/);
        assert.doesNotMatch(legendCaption("target", true), /left out/);
    });
});

describe("special tokens", () => {
    const stored = {
        focus: null as number | null,
        result: {
            sourceTokens: [
                { range: null, special: true, text: "<bos>" },
                { range: { s: 0, e: 5 }, special: false, text: "float" },
                { range: { s: 5, e: 8 }, special: false, text: " po" },
            ],
            targetTokens: [{ range: null, special: false, text: "x" }],
            // the case: the invisible BOS holds the largest score
            scores: [[4.81, 0.025, 1.16, null]],
        },
    };
    const key = (r: { s: number; e: number }): string => `${r.s}-${r.e}`;
    it("take no part in the colour scale: the strongest visible token saturates", () => {
        const out = colourRanges(stored, "target", 1, key);
        assert.deepEqual(
            out.map((c) => [key(c.range), c.colour.level]),
            [["5-8", LEVELS]],
        );
    });
    it("leave generated targets (ghost text, no range) out of the scale too", () => {
        const withGhost = {
            ...stored,
            result: {
                ...stored.result,
                targetTokens: [
                    { range: null, special: false, text: "x" },
                    { range: null, special: false, text: "y" },
                ],
                scores: [
                    [0.1, 0.3, 0.6, null, null],
                    [0.1, 0.3, 0.6, 9, null],
                ],
            },
        };
        const out = colourRanges({ ...withGhost, focus: 1 }, "target", 1, key);
        assert.deepEqual(
            out.map((c) => [key(c.range), c.colour.level]),
            [
                ["0-5", 5], // 0.3 / 0.6 = 0.5 → (0.5 − 0.05) / 0.95 × 10 = 4.7 → 5
                ["5-8", LEVELS],
            ],
        );
    });
    it("leave a chat template's tokens out of the scale like special ones (the same path)", () => {
        const chat = {
            focus: null as number | null,
            result: {
                sourceTokens: [
                    { range: null, special: true, template: true, text: "<|im_start|>" },
                    { range: null, special: false, template: true, text: "user" },
                    { range: { s: 0, e: 5 }, special: false, text: "float" },
                    { range: { s: 5, e: 8 }, special: false, text: " po" },
                ],
                targetTokens: [{ range: null, special: false, text: "x" }],
                scores: [[3.0, 9.0, 0.3, 0.6, null]],
            },
        };
        assert.deepEqual([...specialPositions(chat.result)], [0, 1]);
        const out = colourRanges(chat, "target", 1, key);
        assert.deepEqual(
            out.map((c) => [key(c.range), c.colour.level]),
            [
                ["0-5", 5],
                ["5-8", LEVELS],
            ],
        );
        // the template's tokens are said once, summed: (3 + 9) / 12.9
        assert.match(specialShareLine(chat), /^the chat template carries 93% of \|attribution\|/);
    });
    it("count when asked (tokenlight.specialTokensInScale)", () => {
        const out = colourRanges(stored, "target", 1, key, LEVELS, true);
        // 1.16 / 4.81 = 0.241 → (0.241 − 0.05) / 0.95 × 10 = 2.01 → level 3
        assert.deepEqual(
            out.map((c) => [key(c.range), c.colour.level]),
            [["5-8", 3]],
        );
    });
    it("have their share of |attribution| stated", () => {
        const shares = specialShares(stored);
        assert.equal(shares.length, 1);
        assert.ok(Math.abs(shares[0].share - 4.81 / (4.81 + 0.025 + 1.16)) < 1e-12);
        assert.equal(specialShareLine(stored), "<bos> carries 80% of |attribution| (special: not in the colour scale)");
        assert.equal(specialShareLine({ ...stored, result: { ...stored.result, scores: [[0, 1, 1, null]] } }), "");
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
                ["0-3", 1, "positive", LEVELS],
                ["3-4", -1, "negative", LEVELS],
            ],
        );
    });
    it("colours following-mode targets by the focused row on positions S..S+T-1", () => {
        const out = colourRanges({ ...stored, focus: 1 }, "target", 1, key);
        const byKey = new Map(out.map((c) => [key(c.range), c]));
        assert.equal(byKey.get("4-6")?.value, 2);
        assert.equal(byKey.get("4-6")?.colour.level, LEVELS);
        assert.equal(byKey.get("0-3"), undefined, "a zero score gets no colour");
        assert.equal(byKey.get("6-8"), undefined, "after the causal boundary: no colour");
    });
    it("uses the sum over targets when nothing is focused", () => {
        const out = colourRanges(stored, "none", 10, key);
        const byKey = new Map(out.map((c) => [key(c.range), c]));
        assert.equal(byKey.get("0-3")?.value, 1);
        assert.equal(byKey.get("3-4")?.value, -0.5);
        assert.equal(byKey.get("4-6")?.value, 2);
        // 2 / 10 = 0.2 → (0.2 − 0.05) / 0.95 × 10 = 1.58 → level 2
        assert.equal(byKey.get("4-6")?.colour.level, 2);
    });
});
