/**
 * The Tokenlight view in the Explorer: every result on show, per document. A document lists its
 * results (method · model, stale ones marked), a result its targets, a target its strongest source
 * tokens; a click selects that text in the editor (a target's click also colours by that target).
 */
import * as vscode from "vscode";
import { COMMAND_IDS } from "./commandIds";
import { topTokens, type Range, type ResultStore, type StoredResult } from "./results";

export type ResultNode =
    | { kind: "document"; uri: string }
    | { kind: "result"; id: string }
    | { kind: "target"; id: string; target: number }
    | { kind: "token"; id: string; target: number; index: number };

function formatScore(value: number | null | undefined): string {
    if (typeof value !== "number" || !Number.isFinite(value)) {
        return "—";
    }
    const s = value.toPrecision(3);
    return value > 0 ? `+${s}` : s;
}

function basename(uri: string): string {
    const parsed = vscode.Uri.parse(uri);
    return parsed.path.split("/").pop() || uri;
}

export class ResultsView implements vscode.TreeDataProvider<ResultNode>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<ResultNode | undefined>();
    readonly onDidChangeTreeData = this.changed.event;
    private readonly view: vscode.TreeView<ResultNode>;

    constructor(private readonly store: ResultStore) {
        this.view = vscode.window.createTreeView("tokenlight.results", { treeDataProvider: this, showCollapseAll: true });
    }

    /** Redraw (results added, dropped, focused, marked stale). */
    refresh(): void {
        this.changed.fire(undefined);
        const n = this.store.size;
        this.view.badge = n > 0 ? { value: n, tooltip: `${n} attribution${n === 1 ? "" : "s"} on show` } : undefined;
    }

    getChildren(node?: ResultNode): ResultNode[] {
        if (node === undefined) {
            return this.store.uris().map((uri) => ({ kind: "document", uri }));
        }
        switch (node.kind) {
            case "document":
                return this.store.forUri(node.uri).map((stored) => ({ kind: "result", id: stored.result.id }));
            case "result": {
                const stored = this.store.byId(node.id);
                return stored === undefined
                    ? []
                    : stored.result.targetTokens.map((_t, target) => ({ kind: "target", id: node.id, target }));
            }
            case "target": {
                const stored = this.store.byId(node.id);
                return stored === undefined
                    ? []
                    : topTokens(stored, node.target).map((index) => ({ kind: "token", id: node.id, target: node.target, index }));
            }
            case "token":
                return [];
        }
    }

    getTreeItem(node: ResultNode): vscode.TreeItem {
        if (node.kind === "document") {
            const item = new vscode.TreeItem(basename(node.uri), vscode.TreeItemCollapsibleState.Expanded);
            const n = this.store.forUri(node.uri).length;
            item.description = `${n} result${n === 1 ? "" : "s"}`;
            item.resourceUri = vscode.Uri.parse(node.uri);
            item.iconPath = vscode.ThemeIcon.File;
            item.contextValue = "tokenlight.document";
            return item;
        }
        const stored = this.store.byId(node.id);
        if (stored === undefined) {
            return new vscode.TreeItem("(gone)");
        }
        const { result } = stored;
        if (node.kind === "result") {
            // Line first (which result it is), then what computed it; the description keeps the model.
            const line = stored.selection.start.line + 1;
            const item = new vscode.TreeItem(`line ${line} · ${result.method}`, vscode.TreeItemCollapsibleState.Collapsed);
            const stale = stored.staleSince === undefined ? "" : ` · stale (now ${stored.staleSince})`;
            item.description = `${result.model.name} · ${result.sourceTokens.length} × ${result.targetTokens.length}${stale}`;
            item.tooltip = `${JSON.stringify(result.target?.text ?? "")} — ${result.method} on ${result.model.name}${stale}`;
            item.iconPath = new vscode.ThemeIcon(stored.staleSince === undefined ? "lightbulb" : "history");
            item.command = this.reveal(stored, stored.selection, "Select the attributed text");
            item.contextValue = "tokenlight.result";
            return item;
        }
        if (node.kind === "target") {
            const token = result.targetTokens[node.target];
            const focused = stored.focus === node.target ? " · colouring" : "";
            const item = new vscode.TreeItem(
                `${node.target + 1}. ${JSON.stringify(token.label ?? token.text)}`,
                vscode.TreeItemCollapsibleState.Collapsed,
            );
            const delta = result.deltas?.[node.target];
            item.description = `p=${token.probability.toFixed(3)}${typeof delta === "number" ? ` · delta ${formatScore(delta)}` : ""}${focused}`;
            item.iconPath = new vscode.ThemeIcon(stored.focus === node.target ? "target" : "symbol-string");
            item.command = {
                command: COMMAND_IDS.revealResult,
                title: "Colour by this target",
                arguments: [stored.uri, token.range ?? stored.selection, stored.result.id, node.target],
            };
            return item;
        }
        const source = result.sourceTokens[node.index];
        const item = new vscode.TreeItem(JSON.stringify(source.label ?? source.text), vscode.TreeItemCollapsibleState.None);
        item.description = formatScore(result.scores[node.target]?.[node.index]);
        item.tooltip = `source token ${node.index} → target ${node.target + 1} ${JSON.stringify(result.targetTokens[node.target].text)}`;
        item.iconPath = new vscode.ThemeIcon("symbol-text");
        if (source.range !== null) {
            item.command = this.reveal(stored, source.range, "Select this token");
        }
        return item;
    }

    private reveal(stored: StoredResult, range: Range, title: string): vscode.Command {
        return { command: COMMAND_IDS.revealResult, title, arguments: [stored.uri, range] };
    }

    dispose(): void {
        this.view.dispose();
        this.changed.dispose();
    }
}
