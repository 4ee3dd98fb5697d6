/**
 * The frame every report webview serves (Compare Methods, Two Inputs, Compare With Previous), pure:
 * one Content-Security-Policy that allows only a nonce'd style (and a nonce'd script on a page
 * that has one), theme colours through VS Code's CSS variables, and the table rules the report
 * pages share. Declared once so that a page cannot loosen its CSP by drifting from the others.
 */
import { escapeHtml } from "./matrixHtml";

/** body and table rules every report page starts from; a page appends its own. */
export const REPORT_CSS = `body { color: var(--vscode-foreground); background: var(--vscode-editor-background); font-family: var(--vscode-font-family); }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--vscode-panel-border, #8884); padding: 2px 6px; text-align: right; }`;

export interface WebviewPage {
    title: string;
    cspSource: string;
    nonce: string;
    /** rules after {@link REPORT_CSS}; trusted (written in this extension, never from the daemon) */
    css: string;
    /** the page's markup; every daemon string in it already escaped */
    body: string;
    /** the one script, if the page has one; trusted like {@link css} */
    script?: string;
}

export function webviewPage({ title, cspSource, nonce, css, body, script }: WebviewPage): string {
    // the CSP is built from the raw nonce and escaped once as an attribute, like the nonce
    // attributes, so that both decode to the same value
    const n = escapeHtml(nonce);
    const scriptSource = script === undefined ? "" : ` script-src 'nonce-${nonce}';`;
    const csp = `default-src 'none'; style-src ${cspSource} 'nonce-${nonce}';${scriptSource}`;
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp, false)}">
<title>${escapeHtml(title)}</title>
<style nonce="${n}">
${REPORT_CSS}
${css}
</style>
</head>
<body>
${body}${script === undefined ? "" : `\n<script nonce="${n}">\n${script}\n</script>`}
</body>
</html>`;
}

/** A signed score to four significant figures, or "—" where there is none. */
export function signed(value: number | null | undefined): string {
    return value === null || value === undefined || !Number.isFinite(value) ? "—" : (value > 0 ? "+" : "") + value.toPrecision(4);
}
