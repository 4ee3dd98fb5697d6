/**
 * The status bar item: `Tokenlight: not started` until a command needs the daemon, then
 * `model · method · device`, a spinner while the daemon works, the colouring (focused target or
 * sum), the colour legend and the special tokens' share in its tooltip. Clicking it opens a quick
 * pick of the common actions.
 */
import * as vscode from "vscode";
import type { DaemonState } from "./client";
import { COMMAND_IDS } from "./commandIds";
import type { ModelInfo } from "./protocol";
import { themeKind } from "./decorations";
import { hex, legend, legendCaption, PALETTES, specialShareLine } from "./palette";
import type { StoredResult } from "./results";
import type { Settings } from "./settings";

export class StatusBar implements vscode.Disposable {
    private readonly item: vscode.StatusBarItem;
    private busy = 0;
    private model: ModelInfo | undefined;
    private daemonState: DaemonState = "notStarted";
    private daemonDescription = "";
    private shown: StoredResult | undefined;

    constructor(private readonly settings: Settings) {
        this.item = vscode.window.createStatusBarItem("tokenlight.status", vscode.StatusBarAlignment.Right, 100);
        this.item.name = "Tokenlight";
        this.item.command = COMMAND_IDS.showActions;
        this.render();
        this.item.show();
    }

    /** The model the daemon holds (or the one the settings name, before it loaded one). */
    get modelName(): string {
        return this.model?.name ?? this.settings.model ?? "the embedded default";
    }

    setModel(model: ModelInfo | undefined): void {
        this.model = model;
        this.render();
    }

    setDaemon(state: DaemonState, description: string): void {
        this.daemonState = state;
        this.daemonDescription = description;
        this.render();
    }

    /** The result the active editor shows (or none), for the tooltip's colouring line. */
    setShown(stored: StoredResult | undefined): void {
        this.shown = stored;
        this.render();
    }

    /** Shows the spinner until `work` settles. */
    async track<T>(work: Promise<T>): Promise<T> {
        this.busy++;
        this.render();
        try {
            return await work;
        } finally {
            this.busy--;
            this.render();
        }
    }

    render(): void {
        if (this.daemonState === "notStarted" && this.busy === 0) {
            this.renderNotStarted();
            return;
        }
        const name = this.model?.name ?? this.settings.model ?? "default model";
        const device = this.model?.device ?? this.settings.device;
        const icon =
            this.busy > 0 || this.daemonState === "starting"
                ? "$(sync~spin)"
                : this.daemonState === "running"
                  ? "$(lightbulb)"
                  : "$(debug-disconnect)";
        this.item.text = `${icon} ${name} · ${this.settings.method} · ${device}`;
        this.item.backgroundColor =
            this.daemonState === "failed" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
        const tooltip = new vscode.MarkdownString(undefined, true);
        tooltip.isTrusted = false;
        tooltip.appendMarkdown("**Tokenlight**\n\n");
        tooltip.appendText(`Daemon: ${this.daemonState} (${this.daemonDescription})\n\n`);
        if (this.model !== undefined) {
            tooltip.appendText(`Model: ${this.model.name} on ${this.model.device} (${this.model.dtype})\n\n`);
        }
        tooltip.appendText(`Method: ${this.settings.method}; normalisation: ${this.settings.normalization}\n\n`);
        tooltip.appendText(`${colouringLine(this.shown)}\n\n`);
        const share = this.shown === undefined ? "" : specialShareLine(this.shown);
        if (share !== "") {
            tooltip.appendText(`${share}\n\n`);
        }
        if (this.shown?.staleSince !== undefined) {
            tooltip.appendText(`Stale: computed by ${this.shown.result.model.name}; the daemon now holds ${this.shown.staleSince}.\n\n`);
        }
        tooltip.supportHtml = true;
        tooltip.appendMarkdown(`${legendMarkdown(this.settings)}\n\n`);
        tooltip.appendMarkdown("Click for the Tokenlight actions.");
        this.item.tooltip = tooltip;
    }

    private renderNotStarted(): void {
        this.item.text = "$(lightbulb) Tokenlight: not started";
        this.item.backgroundColor = undefined;
        const tooltip = new vscode.MarkdownString(undefined, true);
        tooltip.isTrusted = false;
        tooltip.appendMarkdown("**Tokenlight**\n\n");
        tooltip.appendText(
            "Nothing runs yet: the daemon starts, and loads the model, with the first command " +
                "that needs it (Attribute Continuation, Switch Attribution Method, ...).\n\n",
        );
        tooltip.appendText(`Method: ${this.settings.method}; model: ${this.settings.model ?? "the embedded default"}\n\n`);
        tooltip.appendMarkdown("Click for the Tokenlight actions (the first one that needs the daemon starts it).");
        this.item.tooltip = tooltip;
    }

    dispose(): void {
        this.item.dispose();
    }
}

function colouringLine(stored: StoredResult | undefined): string {
    if (stored === undefined) {
        return "Colouring: no attribution in this editor.";
    }
    const { focus, result } = stored;
    if (focus === null || focus >= result.targetTokens.length) {
        return `Colouring: sum over all ${result.targetTokens.length} targets (${result.method}).`;
    }
    return `Colouring: target ${focus + 1} ${JSON.stringify(result.targetTokens[focus].label ?? result.targetTokens[focus].text)} (${result.method}).`;
}

/**
 * The colour legend as hover markdown: one swatch per level (the only inline style VS Code keeps in
 * a tooltip is a span's hex `background-color`), then what the ends and the dead zone mean.
 */
export function legendMarkdown(settings: Settings): string {
    const theme = themeKind(vscode.window.activeColorTheme.kind);
    const swatches = legend(PALETTES[settings.palette], theme)
        .map((entry) => `<span style="background-color:${hex(entry.swatch)};">&nbsp;&nbsp;</span>`)
        .join("");
    return `Legend: −${swatches}+ <br>${legendCaption(settings.normalization, settings.specialTokensInScale)}`;
}
