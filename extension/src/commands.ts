/**
 * Every command, as a small factory over the context: `(ctx) => handler`. Commands that need the
 * daemon get the client through `requireClient`, which explains itself while the daemon is down.
 */
import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import { ResponseError } from "vscode-languageclient/node";
import { COMMAND_IDS, type CommandName } from "./commandIds";
import { activeUri, currentResult, render, requireClient, type Ctx } from "./context";
import type { ComparedSelection } from "./compare";
import { OPTION_CHOICES } from "./generated/options";
import { describeError } from "./log";
import { PartialAssembly } from "./partial";
import { withRequestProgress } from "./progress";
import * as proto from "./protocol";
import { applyTokenInput } from "./remoteToken";
import { PROVISIONAL_PREFIX, type Range, type StoredResult } from "./results";
import { SECTION, settingsTarget } from "./settings";
import { drilledSpan, shareLabel, showsSpans, spanAt, spanShares, spanTokensScored } from "./spanView";

type Handler = (...args: unknown[]) => unknown;
type Factory = (ctx: Ctx) => Handler;

const RECENT_MODELS_KEY = "tokenlight.recentModels";
const MAX_RECENT_MODELS = 8;

function toRange(range: vscode.Range): Range {
    return {
        start: { line: range.start.line, character: range.start.character },
        end: { line: range.end.line, character: range.end.character },
    };
}

function isCancellation(error: unknown): boolean {
    return (
        error instanceof vscode.CancellationError ||
        (error instanceof ResponseError && error.code === proto.ErrorCodes.RequestCancelled)
    );
}

/** Write a setting the palette chose: to the user settings, or the workspace's where the user set it (see settingsTarget). */
async function updateSetting(key: string, value: unknown): Promise<void> {
    const config = vscode.workspace.getConfiguration(SECTION);
    const target =
        settingsTarget(config.inspect(key)) === "workspace"
            ? vscode.ConfigurationTarget.Workspace
            : vscode.ConfigurationTarget.Global;
    await config.update(key, value, target);
}

/**
 * What an attribute command attributes: the selection, or with nothing selected the current line
 * up to the cursor (the prompt typed so far).
 */
function promptRange(editor: vscode.TextEditor): vscode.Range | undefined {
    const selection = editor.selection;
    if (!selection.isEmpty) {
        return selection;
    }
    const range = new vscode.Range(selection.active.line, 0, selection.active.line, selection.active.character);
    return editor.document.getText(range).trim() === "" ? undefined : range;
}

/**
 * Sends one attribution with a progress notification and stores the result beside the document's
 * others (replacing those whose text it overlaps, as the daemon does). The result's ranges are
 * where the daemon put them when it answered: it has followed every edit up to then, and refused
 * (ContentModified) if the text was edited.
 */
async function runAttribution(
    ctx: Ctx,
    uri: string,
    selection: Range,
    request: StoredResult["request"],
): Promise<void> {
    const client = await requireClient(ctx);
    if (client === undefined) {
        return;
    }
    const method = request.method ?? ctx.settings.method;
    const params: proto.AttributeParams = {
        textDocument: { uri },
        range: selection,
        target: request.target,
        method,
        options: request.options,
    };
    // Colours as targets finish: each streamed part updates a provisional result that the
    // answer replaces (same selection) and a failure removes.
    const partialResultToken = `tokenlight-partial-${randomUUID()}`;
    const assembly = new PartialAssembly(`${PROVISIONAL_PREFIX}${partialResultToken}`, method);
    const streaming = client.onProgress(proto.attributePartial, partialResultToken, (part) => {
        const provisional = assembly.add(part);
        if (provisional !== undefined) {
            ctx.store.add({ uri, result: provisional, selection, request: { ...request, method }, focus: null });
            render(ctx, uri);
        }
    });
    if (request.options?.granularity === "symbol") {
        const symbols = await documentSymbols(uri);
        if (symbols.length > 0) {
            params.symbols = symbols;
        }
    }
    try {
        const result = await ctx.status.track(
            withRequestProgress(client, `Tokenlight: ${method}`, (workDoneToken, token) =>
                client.sendRequest(proto.attribute, { ...params, workDoneToken, partialResultToken }, token),
            ),
        );
        streaming.dispose();
        const replaced = ctx.store
            .add({ uri, result, selection, request: { ...request, method }, focus: null })
            .filter((old) => old.result.id !== assembly.id);
        ctx.status.setModel(result.model);
        ctx.store.markStale(result.model.name);
        ctx.log.info(
            `${result.id}: ${result.method} on ${result.model.name}, ${result.sourceTokens.length} × ` +
                `${result.targetTokens.length} tokens in ${Math.round(result.elapsedMs)} ms${result.cached ? " (cached)" : ""}`,
        );
        // The engine's caveats go to the log: the ones that matter per token (a large delta)
        // already reach the user as the daemon's diagnostics.
        for (const note of result.notes ?? []) {
            ctx.log.info(`${result.id}: ${note}`);
        }
        if (replaced.length > 0) {
            ctx.log.info(`${result.id} replaces ${replaced.map((r) => r.result.id).join(", ")}`);
        }
        render(ctx, uri);
    } catch (error) {
        streaming.dispose();
        if (ctx.store.delete(assembly.id) !== undefined) {
            render(ctx, uri);
        }
        if (isCancellation(error)) {
            ctx.log.info("Attribution cancelled.");
            return;
        }
        const message = describeError(error);
        ctx.log.error("tokenlight/attribute failed", error);
        void vscode.window.showErrorMessage(`Tokenlight: ${message}`);
    }
}

/** What a closed document's results were asked with, to ask again when it reopens unchanged. */
export interface ClosedResults {
    /** The document's text when it closed: the results are restored only onto the same text. */
    text: string;
    requests: { selection: Range; request: StoredResult["request"] }[];
}

/**
 * Re-run a reopened document's attributions (the daemon's results cache answers them at once; it
 * drops a closed document's anchored results, not their cached computation).
 */
export async function restoreResults(ctx: Ctx, uri: string, closed: ClosedResults): Promise<void> {
    for (const { selection, request } of closed.requests) {
        await runAttribution(ctx, uri, selection, request);
    }
}

/**
 * The document symbols a language extension provides for `uri`, flattened (a child is a symbol
 * of its own); [] when none does (the daemon then parses Python itself, else uses blocks).
 */
async function documentSymbols(uri: string): Promise<proto.DocumentSymbolParam[]> {
    let found: unknown;
    try {
        found = await vscode.commands.executeCommand("vscode.executeDocumentSymbolProvider", vscode.Uri.parse(uri));
    } catch {
        return [];
    }
    const out: proto.DocumentSymbolParam[] = [];
    const visit = (symbols: readonly vscode.DocumentSymbol[]): void => {
        for (const s of symbols) {
            out.push({ name: s.name, kind: vscode.SymbolKind[s.kind].toLowerCase(), range: toRange(s.range) });
            visit(s.children);
        }
    };
    if (Array.isArray(found) && found.every((s) => s instanceof vscode.DocumentSymbol)) {
        visit(found);
    }
    return out;
}

function attributeCommand(kind: "generate" | "following"): Factory {
    return (ctx) => async () => {
        const editor = vscode.window.activeTextEditor;
        if (editor === undefined) {
            void vscode.window.showInformationMessage("Tokenlight: open a document and select the text to attribute.");
            return;
        }
        const range = promptRange(editor);
        if (range === undefined) {
            void vscode.window.showInformationMessage("Tokenlight: select the text to attribute (the prompt).");
            return;
        }
        const target: proto.AttributeTarget =
            kind === "generate"
                ? { kind: "generate", maxNewTokens: ctx.settings.maxNewTokens }
                : { kind: "following", maxTokens: ctx.settings.maxNewTokens };
        await runAttribution(ctx, editor.document.uri.toString(), toRange(range), {
            target,
            method: ctx.settings.method,
            options: ctx.settings.attributeOptions(),
        });
    };
}

export const attributeContinuation: Factory = attributeCommand("generate");
export const attributeFollowing: Factory = attributeCommand("following");

interface MethodItem extends vscode.QuickPickItem {
    method: proto.MethodInfo;
}

/** Pick a method from the daemon's list, make it the setting, and re-run the current attribution with it. */
export const switchMethod: Factory = (ctx) => async () => {
    const client = await requireClient(ctx);
    if (client === undefined) {
        return;
    }
    let methods: proto.MethodInfo[];
    try {
        methods = await ctx.status.track(client.sendRequest(proto.methods, {}));
    } catch (error) {
        void ctx.log.notifyError(`Tokenlight: could not list the methods: ${describeError(error)}`);
        return;
    }
    const current = ctx.settings.method;
    const items: MethodItem[] = methods.map((method) => {
        const caveat = method.caveat ?? undefined;
        const mark = method.id === current ? "$(check) " : caveat !== undefined ? "$(warning) " : "";
        return {
            label: `${mark}${method.label}`,
            description: `${method.id} · ${method.family}${method.convergenceDelta ? " · convergence delta" : ""}`,
            // the caveat first: it is what decides whether to use the method at all
            detail: caveat === undefined ? method.description : `⚠ ${caveat} ${method.description}`,
            method,
        };
    });
    const picked = await vscode.window.showQuickPick(items, {
        title: "Tokenlight: attribution method",
        placeHolder: `Current: ${current}`,
        matchOnDescription: true,
        matchOnDetail: true,
    });
    if (picked === undefined) {
        return;
    }
    const id = picked.method.id;
    await updateSetting("method", id);
    ctx.status.render();
    const stored = currentResult(ctx);
    if (stored !== undefined && stored.result.method !== id) {
        await runAttribution(ctx, stored.uri, stored.selection, { ...stored.request, method: id });
    }
};

interface StepItem extends vscode.QuickPickItem {
    id: string;
}

/**
 * Pick a step function from the daemon's list (`tokenlight/stepFunctions`: the built-ins and every
 * installed entry point), make it the setting, and re-run the current attribution with it.
 */
export const switchStepFunction: Factory = (ctx) => async () => {
    const client = await requireClient(ctx);
    if (client === undefined) {
        return;
    }
    let steps: proto.StepFunctionInfo[];
    try {
        steps = await ctx.status.track(client.sendRequest(proto.stepFunctions, {}));
    } catch (error) {
        void ctx.log.notifyError(`Tokenlight: could not list the step functions: ${describeError(error)}`);
        return;
    }
    const current = ctx.settings.stepFunction;
    const items: StepItem[] = steps.map((step) => ({
        label: `${step.id === current ? "$(check) " : ""}${step.id}`,
        description: [
            step.origin === "builtin" ? undefined : step.origin === "entryPoint" ? "installed package" : "registered",
            step.needsSequence ? "needs a contrast prompt or text" : step.needsContrast ? "needs a contrast" : undefined,
        ]
            .filter((part) => part !== undefined)
            .join(" · "),
        detail: step.description,
        id: step.id,
    }));
    const picked = await vscode.window.showQuickPick(items, {
        title: "Tokenlight: step function (what each target's attribution explains)",
        placeHolder: `Current: ${current}`,
        matchOnDescription: true,
        matchOnDetail: true,
    });
    if (picked === undefined) {
        return;
    }
    await updateSetting("stepFunction", picked.id);
    const stored = currentResult(ctx);
    if (stored !== undefined && stored.result.stepFunction !== picked.id) {
        await runAttribution(ctx, stored.uri, stored.selection, {
            ...stored.request,
            options: { ...stored.request.options, stepFunction: picked.id },
        });
    }
};

interface ModelItem extends vscode.QuickPickItem {
    /** null: the embedded default model. */
    model: string | null;
}

/** Recent models first, most recent first, without duplicates, at most MAX_RECENT_MODELS. */
export function rememberModel(recent: readonly string[], model: string): string[] {
    return [model, ...recent.filter((m) => m !== model)].slice(0, MAX_RECENT_MODELS);
}

function pickModel(recent: readonly string[], current: string | undefined): Promise<ModelItem | undefined> {
    const base: ModelItem[] = [
        { label: "tokenlight-tiny-py", description: "embedded default (offline, tiny)", model: null },
        ...recent.map((model) => ({
            label: model,
            description: model === current ? "current" : "recent",
            model,
        })),
    ];
    const pick = vscode.window.createQuickPick<ModelItem>();
    pick.title = "Tokenlight: switch model";
    pick.placeholder = "A recent model, or type a Hugging Face id (cached) or a model folder";
    pick.items = base;
    pick.onDidChangeValue((value) => {
        const typed = value.trim();
        const known = base.some((item) => item.model === typed);
        pick.items =
            typed === "" || known
                ? base
                : [{ label: typed, description: "load this model", model: typed, alwaysShow: true }, ...base];
    });
    return new Promise((resolve) => {
        pick.onDidAccept(() => {
            resolve(pick.selectedItems[0]);
            pick.hide();
        });
        pick.onDidHide(() => {
            resolve(undefined);
            pick.dispose();
        });
        pick.show();
    });
}

/** Load another model (with progress), remember it, and make it the setting. */
export const switchModel: Factory = (ctx) => async () => {
    const client = await requireClient(ctx);
    if (client === undefined) {
        return;
    }
    const recent = ctx.extension.globalState.get<string[]>(RECENT_MODELS_KEY, []);
    const picked = await pickModel(recent, ctx.settings.model);
    if (picked === undefined) {
        return;
    }
    const title = `Tokenlight: loading ${picked.model ?? "the embedded model"}`;
    try {
        const loaded = await ctx.status.track(
            withRequestProgress(client, title, (workDoneToken, token) =>
                client.sendRequest(
                    proto.loadModel,
                    { model: picked.model, device: ctx.settings.device, dtype: ctx.settings.dtype, workDoneToken },
                    token,
                ),
            ),
        );
        if (picked.model !== null) {
            await ctx.extension.globalState.update(RECENT_MODELS_KEY, rememberModel(recent, picked.model));
        }
        // The daemon already switched; the setting keeps the choice across restarts.
        await updateSetting("model", picked.model ?? "");
        ctx.status.setModel({ name: loaded.name, device: loaded.device, dtype: loaded.dtype });
        // What the other model computed stays on show, marked stale with the model it came from.
        const marked = ctx.store.markStale(loaded.name);
        if (marked.length > 0) {
            ctx.log.info(`${marked.length} result(s) marked stale: the daemon now holds ${loaded.name}`);
            render(ctx);
        }
        const params = loaded.parameters > 0 ? `, ${(loaded.parameters / 1e6).toFixed(1)}M parameters` : "";
        void vscode.window.showInformationMessage(
            `Tokenlight: ${loaded.name} loaded on ${loaded.device} (${loaded.dtype}${params}).`,
        );
    } catch (error) {
        if (isCancellation(error)) {
            return;
        }
        void ctx.log.notifyError(`Tokenlight: could not load ${picked.model ?? "the embedded model"}: ${describeError(error)}`);
    }
};

interface TargetItem extends vscode.QuickPickItem {
    target: number | null;
}

async function pickTarget(stored: StoredResult): Promise<number | null | undefined> {
    const items: TargetItem[] = [
        {
            label: "$(symbol-operator) Sum over all targets",
            description: stored.focus === null ? "current" : undefined,
            target: null,
        },
        ...stored.result.targetTokens.map((token, t) => ({
            label: `${t + 1}. ${JSON.stringify(token.label ?? token.text)}`,
            description: `p=${token.probability.toFixed(3)}${stored.focus === t ? " · current" : ""}`,
            target: t,
        })),
    ];
    const picked = await vscode.window.showQuickPick(items, { title: "Tokenlight: colour the prompt by target" });
    return picked === undefined ? undefined : picked.target;
}

/**
 * Colour by one target (args `[resultId, index]` from an inlay hint click or the matrix; a click
 * on the focused target goes back to the sum), or pick one when called from the palette.
 */
export const focusTarget: Factory = (ctx) => async (resultId?: unknown, index?: unknown) => {
    let stored: StoredResult | undefined;
    let target: number | null | undefined;
    if (typeof resultId === "string") {
        stored = ctx.store.byId(resultId);
        if (stored === undefined) {
            void vscode.window.showInformationMessage("Tokenlight: that attribution is no longer shown; run it again.");
            return;
        }
        const requested = typeof index === "number" && Number.isInteger(index) ? index : null;
        target = requested !== null && requested === stored.focus ? null : requested;
    } else {
        stored = currentResult(ctx);
        if (stored === undefined) {
            void vscode.window.showInformationMessage("Tokenlight: no attribution to focus; run Attribute Continuation first.");
            return;
        }
        target = await pickTarget(stored);
        if (target === undefined) {
            return;
        }
    }
    if (target !== null && (target < 0 || target >= stored.result.targetTokens.length)) {
        return;
    }
    const client = ctx.daemon.running;
    if (client !== undefined) {
        try {
            // The daemon's hovers describe the focused target; colours are the extension's.
            await client.sendRequest(proto.focus, { id: stored.result.id, target });
        } catch (error) {
            ctx.log.warn(`tokenlight/focus: ${describeError(error)}`);
            if (error instanceof ResponseError && error.code === proto.ErrorCodes.InvalidParams) {
                // The target is in range (checked above): the daemon no longer has this result.
                ctx.store.delete(stored.result.id);
                render(ctx, stored.uri);
                void vscode.window.showInformationMessage("Tokenlight: that attribution is no longer available; run it again.");
                return;
            }
        }
    }
    ctx.store.setFocus(stored.result.id, target);
    render(ctx, stored.uri);
};

export const showMatrix: Factory = (ctx) => () => {
    const stored = currentResult(ctx);
    if (stored === undefined) {
        void vscode.window.showInformationMessage("Tokenlight: no attribution to show; run Attribute Continuation first.");
        return;
    }
    ctx.matrix.show(stored);
};

interface SpanItem extends vscode.QuickPickItem {
    index: number;
}

/** The span a palette drill-down acts on: the one under the cursor, else one picked by share. */
async function pickSpan(stored: StoredResult): Promise<number | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (editor !== undefined && editor.document.uri.toString() === stored.uri) {
        const under = spanAt(stored, editor.selection.active.line, editor.selection.active.character);
        if (under !== undefined) {
            return under;
        }
    }
    const spans = stored.result.spans ?? [];
    const shares = spanShares(spans, stored.focus);
    const items: SpanItem[] = spans
        .map((span, index) => ({ label: shareLabel(span, shares[index]), description: span.kind, index }))
        .filter((item) => spans[item.index].range !== null)
        .sort((a, b) => shares[b.index] - shares[a.index] || a.index - b.index);
    const picked = await vscode.window.showQuickPick(items, { title: "Tokenlight: show the tokens of a span" });
    return picked?.index;
}

/**
 * Drill down into a span (args `[resultId, spanIndex]` from its CodeLens or hover; from the
 * palette, the span under the cursor): its tokens' colours from the result's token matrix, and
 * nothing else coloured. Drilling into the span already shown goes back to the span view.
 */
export const drillDown: Factory = (ctx) => async (resultId?: unknown, index?: unknown) => {
    const stored = typeof resultId === "string" ? ctx.store.byId(resultId) : currentResult(ctx);
    if (stored === undefined || !showsSpans(stored)) {
        void vscode.window.showInformationMessage(
            stored === undefined
                ? "Tokenlight: that attribution is no longer shown; run it again."
                : "Tokenlight: this attribution has no spans; run it with a granularity other than token (Switch Context and Granularity).",
        );
        return;
    }
    const span = typeof index === "number" && Number.isInteger(index) ? index : await pickSpan(stored);
    if (span === undefined || span < 0 || span >= (stored.result.spans ?? []).length) {
        return;
    }
    if (drilledSpan(stored) === span) {
        ctx.store.setDrill(stored.result.id, null);
    } else {
        if (!spanTokensScored(stored, span)) {
            void vscode.window.showInformationMessage(
                `Tokenlight: ${stored.result.method} did not score the tokens of ${(stored.result.spans ?? [])[span].label} ` +
                    "one by one (only the top spans' tokens are; raise the drillDown option to score more).",
            );
        }
        ctx.store.setDrill(stored.result.id, span);
    }
    render(ctx, stored.uri);
};

/** Back from a drill-down to the span view (args `[resultId]`, or the current result). */
export const showSpans: Factory = (ctx) => (resultId?: unknown) => {
    const stored = typeof resultId === "string" ? ctx.store.byId(resultId) : currentResult(ctx);
    if (stored === undefined || drilledSpan(stored) === undefined) {
        return;
    }
    ctx.store.setDrill(stored.result.id, null);
    render(ctx, stored.uri);
};

/**
 * Clear every attribution, in every document, here and in the daemon (colours, ghost text,
 * hovers, diagnostics). The active document is cleared in the daemon too even when nothing is
 * shown here, so nothing the daemon still holds outlives the command.
 */
export const clear: Factory = (ctx) => async () => {
    const uris = new Set(ctx.store.uris());
    const active = activeUri();
    if (active !== undefined) {
        uris.add(active);
    }
    ctx.store.clear();
    ctx.matrix.drop(undefined);
    render(ctx);
    const client = ctx.daemon.running;
    if (client === undefined) {
        return;
    }
    for (const uri of uris) {
        try {
            await client.sendRequest(proto.clear, { textDocument: { uri } });
        } catch (error) {
            ctx.log.warn(`tokenlight/clear ${uri}: ${describeError(error)}`);
        }
    }
};

/** The selection (or the line typed so far) and the request the settings make for it. */
function selectedRequest(ctx: Ctx): { uri: string; selection: Range; request: StoredResult["request"] } | undefined {
    const editor = vscode.window.activeTextEditor;
    const range = editor === undefined ? undefined : promptRange(editor);
    if (editor === undefined || range === undefined) {
        void vscode.window.showInformationMessage("Tokenlight: select the text to attribute (the prompt).");
        return undefined;
    }
    return {
        uri: editor.document.uri.toString(),
        selection: toRange(range),
        request: {
            target: { kind: "generate", maxNewTokens: ctx.settings.maxNewTokens },
            method: ctx.settings.method,
            options: ctx.settings.attributeOptions(),
        },
    };
}

/**
 * Run several methods on the selection (the daemon's default fast set), each evaluated, and show
 * the table, the curves and the recommendation in the Compare Methods panel.
 */
export const compareMethods: Factory = (ctx) => async () => {
    const chosen = selectedRequest(ctx);
    if (chosen === undefined) {
        return;
    }
    const client = await requireClient(ctx);
    if (client === undefined) {
        return;
    }
    const params: proto.CompareParams = {
        textDocument: { uri: chosen.uri },
        range: chosen.selection,
        target: chosen.request.target,
        options: chosen.request.options,
    };
    try {
        const report = await ctx.status.track(
            withRequestProgress(client, "Tokenlight: comparing methods", (workDoneToken, token) =>
                client.sendRequest(proto.compare, { ...params, workDoneToken }, token),
            ),
        );
        for (const m of report.methods.filter((row) => row.status !== "ok")) {
            ctx.log.info(`compare: ${m.id} ${m.status}: ${m.reason ?? ""}`);
        }
        ctx.compare.show(report, chosen);
    } catch (error) {
        if (isCancellation(error)) {
            ctx.log.info("Comparison cancelled.");
            return;
        }
        ctx.log.error("tokenlight/compare failed", error);
        void vscode.window.showErrorMessage(`Tokenlight: ${describeError(error)}`);
    }
};

/** The Compare panel's "Use this method": make it the setting and attribute the compared selection with it. */
export async function applyComparedMethod(ctx: Ctx, method: string, origin: ComparedSelection): Promise<void> {
    await updateSetting("method", method);
    ctx.status.render();
    await runAttribution(ctx, origin.uri, origin.selection, { ...origin.request, method });
}

/**
 * Two selections (multi-cursor: the first, then the second) attributed for the same target, the
 * first's continuation, and their token-aligned difference shown in the panel.
 */
export const compareSelections: Factory = (ctx) => async () => {
    const editor = vscode.window.activeTextEditor;
    const selections = editor?.selections.filter((s) => !s.isEmpty) ?? [];
    if (editor === undefined || selections.length !== 2) {
        void vscode.window.showInformationMessage(
            "Tokenlight: select exactly two pieces of text (Alt+click adds the second selection).",
        );
        return;
    }
    const client = await requireClient(ctx);
    if (client === undefined) {
        return;
    }
    const params: proto.AgainstParams = {
        textDocument: { uri: editor.document.uri.toString() },
        range: toRange(selections[0]),
        otherRange: toRange(selections[1]),
        target: { kind: "generate", maxNewTokens: ctx.settings.maxNewTokens },
        method: ctx.settings.method,
        options: ctx.settings.attributeOptions(),
    };
    try {
        const report = await ctx.status.track(
            withRequestProgress(client, "Tokenlight: two inputs", (workDoneToken, token) =>
                client.sendRequest(proto.against, { ...params, workDoneToken }, token),
            ),
        );
        ctx.compare.showAgainst(report);
    } catch (error) {
        if (isCancellation(error)) {
            return;
        }
        ctx.log.error("tokenlight/against failed", error);
        void vscode.window.showErrorMessage(`Tokenlight: ${describeError(error)}`);
    }
};

/**
 * Compare With Previous: the current result (under the cursor) against the previous result of the
 * same range (the one its re-attribution replaced, or that an edit of the selection dropped). The
 * difference is the daemon's (`tokenlight/diff`, aligned by token text; tokens in one result only
 * listed); the panel shows it.
 */
export const compareWithPrevious: Factory = (ctx) => async () => {
    const stored = currentResult(ctx);
    if (stored === undefined) {
        void vscode.window.showInformationMessage("Tokenlight: no attribution to compare; run Attribute Continuation first.");
        return;
    }
    if (stored.result.id.startsWith(PROVISIONAL_PREFIX)) {
        void vscode.window.showInformationMessage("Tokenlight: this attribution is still running; compare when it has finished.");
        return;
    }
    const previous = ctx.store.previous(stored);
    if (previous === undefined) {
        void vscode.window.showInformationMessage(
            "Tokenlight: this range has no previous attribution; edit the selection (or switch the method) and attribute it again, then compare.",
        );
        return;
    }
    const client = await requireClient(ctx);
    if (client === undefined) {
        return;
    }
    const side = (r: proto.AttributeResult): proto.DiffSide => ({
        sourceTokens: r.sourceTokens,
        targetTokens: r.targetTokens,
        scores: r.scores,
        method: r.method,
        ...(r.stepFunction === undefined ? {} : { stepFunction: r.stepFunction }),
    });
    try {
        const d = await ctx.status.track(client.sendRequest(proto.diff, { a: side(previous.result), b: side(stored.result) }));
        const name = vscode.Uri.parse(stored.uri).path.split("/").pop() ?? stored.uri;
        const lines = `${stored.selection.start.line + 1}–${stored.selection.end.line + 1}`;
        ctx.diff.show(d, previous.result, stored.result, `${name}, lines ${lines}`);
    } catch (error) {
        ctx.log.error("tokenlight/diff failed", error);
        void vscode.window.showErrorMessage(`Tokenlight: ${describeError(error)}`);
    }
};

/**
 * Evaluate the current result's faithfulness (re-run with `evaluate` on; the figures then show in
 * its hovers), or with no result yet, attribute the selection with it.
 */
export const evaluateFaithfulness: Factory = (ctx) => async () => {
    const stored = currentResult(ctx);
    if (stored !== undefined) {
        const options = { ...(stored.request.options ?? {}), evaluate: true };
        await runAttribution(ctx, stored.uri, stored.selection, { ...stored.request, options });
        return;
    }
    const chosen = selectedRequest(ctx);
    if (chosen !== undefined) {
        const options = { ...(chosen.request.options ?? {}), evaluate: true };
        await runAttribution(ctx, chosen.uri, chosen.selection, { ...chosen.request, options });
    }
};

export const restartDaemon: Factory = (ctx) => async () => {
    await ctx.daemon.restart();
};

export const showLog: Factory = (ctx) => () => {
    ctx.log.show();
};

/**
 * Ask for a remote daemon's token and keep it in VS Code's secret storage, never in a settings
 * file. The store's change event reconnects (extension.ts).
 */
export const setRemoteToken: Factory = (ctx) => async () => {
    const input = await vscode.window.showInputBox({
        title: "Tokenlight: remote daemon token",
        prompt:
            'The token the daemon printed when it started ("tokenlight: token ..."), or its --token. ' +
            "Leave empty to remove the stored token.",
        password: true,
        ignoreFocusOut: true,
    });
    const outcome = await applyTokenInput(ctx.extension.secrets, input);
    if (outcome !== "unchanged") {
        void vscode.window.showInformationMessage(
            outcome === "stored"
                ? "Tokenlight: the remote token is stored in VS Code's secret storage."
                : "Tokenlight: the stored remote token was removed.",
        );
    }
};

interface ActionItem extends vscode.QuickPickItem {
    command?: CommandName;
}

/**
 * The status bar item's menu: the common actions in one quick pick (what a user reaches for after
 * the first colours), each with its key binding or what it acts on.
 */
export const showActions: Factory = (ctx) => async () => {
    const stored = currentResult(ctx);
    const on = stored === undefined ? "no attribution yet" : `${stored.result.method} on ${stored.result.model.name}`;
    const items: ActionItem[] = [
        { label: "$(lightbulb) Attribute Continuation", description: "Ctrl+Alt+A · the selection", command: "attributeContinuation" },
        { label: "$(arrow-down) Attribute Following Text", description: "the text after the selection", command: "attributeFollowing" },
        { label: "$(symbol-method) Switch Attribution Method", description: `now ${ctx.settings.method}`, command: "switchMethod" },
        { label: "$(symbol-function) Switch Step Function", description: `now ${ctx.settings.stepFunction}`, command: "switchStepFunction" },
        { label: "$(server) Switch Model", description: `now ${ctx.status.modelName}`, command: "switchModel" },
        { label: "", kind: vscode.QuickPickItemKind.Separator },
        { label: "$(target) Focus Target Token", description: on, command: "focusTarget" },
        { label: "$(table) Show Attribution Matrix", description: on, command: "showMatrix" },
        { label: "$(diff) Compare With Previous", description: "the range's previous result", command: "compareWithPrevious" },
        { label: "$(clear-all) Clear Attributions", command: "clear" },
        { label: "", kind: vscode.QuickPickItemKind.Separator },
        { label: "$(output) Show Daemon Log", command: "showLog" },
        { label: "$(debug-restart) Restart Daemon", command: "restartDaemon" },
    ];
    const picked = await vscode.window.showQuickPick(items, { title: "Tokenlight", placeHolder: "What to do" });
    if (picked?.command !== undefined) {
        await vscode.commands.executeCommand(COMMAND_IDS[picked.command]);
    }
};

/** Select a result's range (or one token of it) in its editor: what a click in the Tokenlight view does. */
export const revealResult: Factory = (ctx) => async (uri?: unknown, range?: unknown, resultId?: unknown, target?: unknown) => {
    if (typeof uri !== "string" || !isRange(range)) {
        return;
    }
    const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
    const editor = await vscode.window.showTextDocument(document, { preserveFocus: false });
    const r = new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
    editor.selection = new vscode.Selection(r.start, r.end);
    editor.revealRange(r, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    if (typeof resultId === "string" && (typeof target === "number" || target === null)) {
        const stored = ctx.store.byId(resultId);
        if (stored !== undefined && stored.focus !== target) {
            await vscode.commands.executeCommand(COMMAND_IDS.focusTarget, resultId, target);
        }
    }
};

function isRange(value: unknown): value is Range {
    const r = value as Range | undefined;
    return (
        typeof r === "object" &&
        r !== null &&
        typeof r.start?.line === "number" &&
        typeof r.start.character === "number" &&
        typeof r.end?.line === "number" &&
        typeof r.end.character === "number"
    );
}

/**
 * Switch Context and Granularity: one quick pick over what the model sees (selection or document)
 * and the spans it is scored in; written to the settings, and the current result re-run with them.
 */
export const switchSpans: Factory = (ctx) => async () => {
    const items = [];
    for (const context of OPTION_CHOICES.context) {
        for (const granularity of OPTION_CHOICES.granularity) {
            const current = context === ctx.settings.context && granularity === ctx.settings.granularity;
            items.push({
                label: `${context} · ${granularity}`,
                description: current ? "(current)" : undefined,
                context,
                granularity,
            });
        }
    }
    const picked = await vscode.window.showQuickPick(items, {
        placeHolder: "What the model sees, and the spans the attribution is shown in",
    });
    if (picked === undefined) {
        return;
    }
    await updateSetting("context", picked.context);
    await updateSetting("granularity", picked.granularity);
    const stored = currentResult(ctx);
    if (stored !== undefined) {
        await runAttribution(ctx, stored.uri, stored.selection, {
            ...stored.request,
            options: { ...stored.request.options, context: picked.context, granularity: picked.granularity },
        });
    }
};

/** Every command's factory, by name; extension.ts registers each under COMMAND_IDS[name]. */
export const COMMANDS: Readonly<Record<CommandName, Factory>> = {
    attributeContinuation,
    attributeFollowing,
    switchMethod,
    switchStepFunction,
    switchModel,
    switchSpans,
    focusTarget,
    showMatrix,
    drillDown,
    showSpans,
    compareMethods,
    compareSelections,
    compareWithPrevious,
    evaluateFaithfulness,
    clear,
    restartDaemon,
    setRemoteToken,
    showLog,
    showActions,
    revealResult,
};
