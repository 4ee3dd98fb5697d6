import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { againstHtml, compareHtml, curvesSvg, parseCompareMessage } from "../../compareHtml";
import type { CompareResult } from "../../protocol";

const EVIL = "<script>alert(1)</script>";
const FRACTIONS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

function report(): CompareResult {
    const curve = FRACTIONS.map((f) => 1 - f);
    return {
        prompt: "x",
        continuation: EVIL,
        targetTokens: [EVIL],
        fractions: FRACTIONS,
        methods: [
            {
                id: "saliency",
                status: "ok",
                label: "Saliency",
                seconds: 0.4,
                evaluationSeconds: 0.2,
                converged: null,
                warnings: [],
                deletionAuc: 0.7,
                insertionAuc: 0.6,
                randomDeletionAuc: 0.5,
                randomInsertionAuc: 0.5,
                deletion: curve,
                insertion: curve.slice().reverse(),
            },
            { id: "lrp", status: "refused", reason: `no rules for ${EVIL}` },
        ],
        agreement: [],
        recommendation: { method: "saliency", label: "Saliency", reason: `highest deletion AUC (0.700), ${EVIL}` },
        elapsedMs: 10,
    };
}

describe("compareHtml", () => {
    const html = compareHtml({ report: report(), cspSource: "vscode-webview:", nonce: "abc" });

    it("escapes every string from the daemon", () => {
        assert.ok(!html.includes(EVIL));
        assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    });

    it("has a strict CSP and only the nonce'd script", () => {
        assert.ok(html.includes("default-src 'none'; style-src vscode-webview: 'nonce-abc'; script-src 'nonce-abc';"));
        assert.equal(html.match(/<script/g)?.length, 1);
        assert.ok(html.includes('<script nonce="abc">'));
        assert.ok(!/ style="/.test(html)); // the CSP forbids inline style attributes
    });

    it("lists refused methods with their reason, stars the recommendation and offers to apply it", () => {
        assert.ok(html.includes("refused: no rules for"));
        assert.ok(html.includes("Saliency ★"));
        assert.ok(html.includes('data-method="saliency"'));
        assert.ok(html.includes("Recommended: <strong>Saliency</strong>"));
    });

    it("draws one polyline per method that ran, in each plot", () => {
        const svg = curvesSvg(FRACTIONS, report().methods, "deletion");
        assert.equal(svg.match(/<polyline/g)?.length, 1);
        assert.equal(html.match(/<svg/g)?.length, 2);
    });
});

describe("parseCompareMessage", () => {
    it("accepts only apply messages for methods that ran", () => {
        assert.deepEqual(parseCompareMessage({ type: "apply", method: "saliency" }, ["saliency"]), {
            type: "apply",
            method: "saliency",
        });
        assert.equal(parseCompareMessage({ type: "apply", method: "lrp" }, ["saliency"]), undefined);
        assert.equal(parseCompareMessage({ type: "focus", target: 1 }, ["saliency"]), undefined);
        assert.equal(parseCompareMessage("apply", ["saliency"]), undefined);
    });
});

describe("againstHtml", () => {
    it("escapes tokens, runs no script and marks the largest difference", () => {
        const html = againstHtml({
            report: {
                method: "saliency",
                target: `the continuation ${EVIL}, forced on both inputs`,
                targetTokens: [EVIL],
                aligned: [
                    { a: 0, b: 0, text: EVIL, textB: EVIL, scoresA: [1], scoresB: [1], difference: [0] },
                    { a: 1, b: 1, text: " 1", textB: " 2", scoresA: [2], scoresB: [5], difference: [3] },
                    { a: null, b: 2, text: " x", textB: " x", scoresA: null, scoresB: [1], difference: null },
                ],
                elapsedMs: 1,
            },
            cspSource: "vscode-webview:",
            nonce: "n",
        });
        assert.ok(!html.includes(EVIL) && !html.includes("<script"));
        assert.ok(html.includes("default-src 'none'; style-src vscode-webview: 'nonce-n';"));
        assert.ok(html.includes('<tr class="largest"><td>·1 → ·2</td><td>+2.000</td><td>+5.000</td><td>+3.000</td></tr>'));
    });
});
