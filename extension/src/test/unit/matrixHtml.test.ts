import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { escapeHtml, matrixHtml, parseMatrixMessage, visibleToken, type MatrixInput } from "../../matrixHtml";
import { LEVELS, PALETTES } from "../../palette";
import type { AttributeResult } from "../../protocol";

const EVIL = ["<script>alert(1)</script>", '<img src=x onerror=alert(1)>', '"><svg onload=alert(1)>', "' onmouseover='x"];

function result(): AttributeResult {
    return {
        id: "r9",
        model: { name: "<b>model</b>", device: "cpu", dtype: "float32" },
        method: "integrated_gradients",
        sourceTokens: [
            { text: "<|endoftext|>", range: null, special: true },
            { text: EVIL[0], range: null, special: false },
            { text: EVIL[1], range: null, special: false },
        ],
        targetTokens: [
            { text: EVIL[2], range: null, probability: 0.5 },
            { text: EVIL[3], range: null, probability: 0.25 },
        ],
        scores: [
            [0.5, -1, 0.25, null, null],
            [0.1, 0.2, -0.3, 0.4, null],
        ],
        deltas: [0.01, null],
        targetScores: [1, 2],
        elapsedMs: 3,
        cached: false,
    };
}

function input(overrides: Partial<MatrixInput> = {}): MatrixInput {
    return {
        result: result(),
        focus: null,
        palette: PALETTES.blueOrange,
        normalization: "target",
        fixedScale: 1,
        cspSource: "https://webview.example",
        nonce: "n0nce",
        ...overrides,
    };
}

/** Every attribute name of every tag (values are escaped, so a value never holds a `"`). */
function attributeNames(html: string): string[] {
    const names: string[] = [];
    for (const tag of html.match(/<[a-zA-Z][^>]*>/g) ?? []) {
        // Blank the values first: an escaped value may contain "onerror=" as harmless text.
        for (const m of tag.replace(/="[^"]*"/g, '=""').matchAll(/\s([a-zA-Z-]+)(?==)/g)) {
            names.push(m[1].toLowerCase());
        }
    }
    return names;
}

/** The document with the one nonce'd script removed: what remains must hold no executable markup. */
function withoutOwnScript(html: string): string {
    return html.replace(/<script nonce="n0nce">[\s\S]*?<\/script>/, "");
}

describe("escapeHtml", () => {
    it("escapes the five HTML-significant characters", () => {
        assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
    });
});

describe("visibleToken", () => {
    it("makes whitespace, control and bidi characters visible", () => {
        assert.equal(visibleToken(" a\n\tb"), "·a↵⇥b");
        assert.equal(visibleToken("x\u202ey"), "x\\u202ey");
        assert.equal(visibleToken("\u0007"), "\\u0007");
    });
});

describe("matrixHtml", () => {
    const html = matrixHtml(input());
    it("has a strict CSP: nothing by default, styles and scripts only by nonce", () => {
        const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1] ?? "";
        assert.match(csp, /default-src 'none'/);
        assert.match(csp, /style-src https:\/\/webview\.example 'nonce-n0nce'/);
        assert.match(csp, /script-src 'nonce-n0nce'/);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    });
    it("has exactly one script and one style, both nonce'd, and no inline handlers or styles", () => {
        assert.equal((html.match(/<script/g) ?? []).length, 1);
        assert.equal((html.match(/<script nonce="n0nce">/g) ?? []).length, 1);
        assert.equal((html.match(/<style nonce="n0nce">/g) ?? []).length, 1);
        const names = attributeNames(html);
        assert.ok(names.includes("title"), "the attribute parser sees attributes");
        assert.ok(!names.includes("style"), "inline style attributes are blocked by the CSP");
        assert.deepEqual(names.filter((n) => n.startsWith("on")), []);
    });
    it("escapes every token (no raw < from token text, in text or attributes)", () => {
        const rest = withoutOwnScript(html);
        for (const evil of EVIL) {
            assert.ok(!rest.includes(evil), `raw token in the page: ${evil}`);
        }
        assert.doesNotMatch(rest, /<(img|svg|b)\b/);
        assert.ok(rest.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert.ok(rest.includes("&lt;b&gt;model&lt;/b&gt;"));
    });
    it("loads no remote resources", () => {
        const names = attributeNames(html);
        assert.ok(!names.includes("src") && !names.includes("href"));
        assert.doesNotMatch(html, /url\(http/);
    });
    it("draws one cell per (position, target), with raw numbers in titles and click targets", () => {
        const cells = html.match(/<td class="[^"]*" role="gridcell" tabindex="-?\d" data-target="\d+" data-row="\d+" data-col="\d+" title="[^"]*"/g) ?? [];
        assert.equal(cells.length, 5 * 2);
        assert.ok(html.includes("-1.000"), "the raw score is in a title");
        assert.match(html, /class="z nan" role="gridcell" tabindex="-1" data-target="0"/, "after the causal boundary: marked as no score");
    });
    it("normalises per target: each column's largest |score| saturates", () => {
        assert.match(html, new RegExp(`class="n${LEVELS}" role="gridcell" tabindex="-?\\d" data-target="0"`));
        assert.match(html, new RegExp(`class="p${LEVELS}" role="gridcell" tabindex="-?\\d" data-target="1"`));
    });
    it("leaves special tokens out of the scale and states their share", () => {
        const r = result();
        r.scores = [
            [4, 1, 0.5, null, null],
            [0.1, 0.2, -0.3, 0.4, null],
        ];
        const page = matrixHtml(input({ result: r }));
        // BOS (4) would otherwise make the visible 1 a quarter of the scale
        assert.match(page, new RegExp(`class="p${LEVELS}" role="gridcell" tabindex="-1" data-target="0" data-row="1"`));
        // |4| + |0.1| of the summed |attribution|: (4.1) / (4.1 + 1.2 + 0.2 + 0.4) = 69%
        assert.match(page, /&lt;\|endoftext\|&gt; carries 69% of \|attribution\|/);
        const included = matrixHtml(input({ result: r, specialsInScale: true }));
        assert.doesNotMatch(included, new RegExp(`class="p${LEVELS}" role="gridcell" tabindex="-1" data-target="0" data-row="1"`));
    });
    it("shows headers horizontally, cut to a few characters, the whole token in the tooltip", () => {
        assert.doesNotMatch(html, /writing-mode|rotate\(/);
        const r = result();
        r.targetTokens[0] = { text: "a_very_long_identifier", range: null, probability: 0.5 };
        const page = matrixHtml(input({ result: r }));
        assert.match(page, /title="target 1: &quot;a_very_long_identifier&quot;[^"]*">a_very_…<\/th>/);
    });
    it("scrolls, never clips: sticky headers inside a scrolling box, the legend outside it", () => {
        assert.match(html, /#scroller\{flex:1;overflow:auto/);
        assert.match(html, /thead th\{position:sticky;top:0/);
        assert.ok(html.indexOf('class="legend"') < html.indexOf('id="scroller"'), "the legend is above the scrolling box");
        // the swatches shrink with the panel, so the legend fits a narrow split whole
        assert.match(html, /\.legend span\.sw\{flex:1 1 0;min-width:3px/);
    });
    it("shows a byte piece by its <0xNN> label, never as an empty header", () => {
        const r = result();
        r.targetTokens[0] = { text: "", label: "<0xE2>", range: null, probability: 0.5 };
        const page = matrixHtml(input({ result: r }));
        assert.match(page, /title="target 1: &quot;&lt;0xE2&gt;&quot;[^"]*">&lt;0xE2&gt;<\/th>/);
    });
    it("is keyboard-navigable: one cell in the tab order, arrows move, Enter focuses", () => {
        assert.equal((html.match(/tabindex="0"/g) ?? []).length, 1);
        assert.match(html, /ArrowDown/);
        assert.match(html, /event\.key === "Enter"/);
    });
    it("marks the focused target", () => {
        const focused = matrixHtml(input({ focus: 1 }));
        assert.match(focused, /<th class="tgt focused" data-target="1"/);
        assert.match(focused, /Editor colours: target 2/);
        assert.match(html, /sum over all 2 targets/);
    });
});

describe("parseMatrixMessage", () => {
    it("accepts focus messages with an index or null, and nothing else", () => {
        assert.deepEqual(parseMatrixMessage({ type: "focus", target: 2 }), { type: "focus", target: 2 });
        assert.deepEqual(parseMatrixMessage({ type: "focus", target: null }), { type: "focus", target: null });
        for (const bad of [null, "focus", { type: "focus", target: -1 }, { type: "focus", target: 1.5 }, { type: "run", target: 1 }]) {
            assert.equal(parseMatrixMessage(bad), undefined);
        }
    });
});

describe("matrixHtml span rows", () => {
    it("puts one row per span above the tokens, labels escaped, coloured on the spans' own scale", () => {
        const withSpans = result();
        withSpans.spans = [
            { kind: "special", label: "<|endoftext|>", range: null, scores: [0.5, 0.1], tokens: [0, 0], drilled: null },
            { kind: "function", label: EVIL[1], range: null, scores: [-0.75, -0.1], tokens: [1, 2], drilled: null },
        ];
        const html = matrixHtml(input({ result: withSpans }));
        const rows = html.match(/<tr class="span">[\s\S]*?<\/tr>/g) ?? [];
        assert.equal(rows.length, 2);
        assert.ok(html.indexOf('<tr class="span">') < html.indexOf('<tr class="special">'));
        assert.ok(!withoutOwnScript(html).includes(EVIL[1]));
        assert.match(rows[1], /&lt;img src=x onerror=alert\(1\)&gt;/);
        // -0.75 is the largest |span score| of target 1: saturated; on the tokens' scale it would not be
        assert.match(rows[1], new RegExp(`class="n${LEVELS}"`));
        assert.equal((matrixHtml(input()).match(/<tr class="span">/g) ?? []).length, 0);
    });
});

describe("matrixHtml per-layer view", () => {
    it("draws the target's layers × tokens below the matrix, one column per block, on one scale", () => {
        const withView = result();
        withView.perLayer = {
            target: 1,
            scores: [
                [0.9, 0.1, -0.2, 0.05, null],
                [0.0, -0.4, 0.2, 0.3, null],
            ],
            deltas: [1e-6, -2e-6],
        };
        const html = matrixHtml(input({ result: withView }));
        const table = html.match(/<table id="layers"[\s\S]*?<\/table>/)?.[0] ?? "";
        assert.ok(html.indexOf('id="matrix"') < html.indexOf('id="layers"'));
        const rows = table.match(/<tr class="(special|source|target)">[\s\S]*?<\/tr>/g) ?? [];
        assert.equal(rows.length, 4); // S = 3 sources and the one target before target 1
        for (const row of rows) {
            assert.equal((row.match(/<td /g) ?? []).length, 2); // one cell per block
        }
        // the BOS row is out of the scale (as in the matrix): -0.4 is the largest |score| and saturates
        assert.match(rows[1], new RegExp(`class="n${LEVELS}"`));
        assert.ok(!withoutOwnScript(html).includes(EVIL[3]));
        assert.match(html, /Through the layers: target 2/);
        assert.ok(!matrixHtml(input()).includes('id="layers"'));
    });
});
