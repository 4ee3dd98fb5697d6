import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { REPORT_CSS, signed, webviewPage } from "../../webviewPage";

describe("webviewPage", () => {
    const page = { title: "A <b> page", cspSource: "vscode-webview:", nonce: 'n"1', css: "p { margin: 0; }", body: "<p>x</p>" };

    it("allows no script on a page without one", () => {
        const html = webviewPage(page);
        assert.ok(html.includes("default-src 'none'; style-src vscode-webview: 'nonce-n&quot;1';\""));
        assert.ok(!html.includes("script-src") && !html.includes("<script"));
    });

    it("nonces the one script of a page that has one, and escapes the title and the nonce", () => {
        const html = webviewPage({ ...page, script: "run();" });
        assert.ok(html.includes("script-src 'nonce-n&quot;1';"));
        assert.equal(html.match(/<script/g)?.length, 1);
        assert.ok(html.includes('<script nonce="n&quot;1">\nrun();\n</script>'));
        assert.ok(html.includes("<title>A &lt;b&gt; page</title>"));
        assert.ok(html.includes(`${REPORT_CSS}\np { margin: 0; }`)); // the shared rules, then the page's
    });

    it("signs scores and shows a dash where there is none", () => {
        assert.deepEqual([1.5, -2, 0, null, undefined, Number.NaN].map(signed), ["+1.500", "-2.000", "0.000", "—", "—", "—"]);
    });
});
