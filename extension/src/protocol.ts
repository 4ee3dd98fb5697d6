/**
 * Every Tokenlight extension to LSP, as typed request constants with their params and results.
 *
 * This file mirrors docs/protocol.md and the daemon's server/protocol.py: a change to one without
 * the others is a bug (the option and settings types are generated from the daemon, src/generated/). Callers import it as a namespace (`import * as proto`) and
 * send `client.sendRequest(proto.attribute, params, token)`; a cancelled token makes the client
 * send `$/cancelRequest`.
 *
 * It imports only `vscode-languageserver-protocol` and the generated types (no `vscode`), so the protocol integration
 * test can drive the real daemon with exactly these types from plain Node.
 */
import {
    NotificationType,
    ProgressType,
    RequestType,
    type PartialResultParams,
    type Position,
    type Range,
    type TextDocumentIdentifier,
    type WorkDoneProgressParams,
} from "vscode-languageserver-protocol";
// The options and the daemon's settings are generated from the daemon's option spec.
import type { AttributeOptions, DaemonSettings } from "./generated/options";

export type { AttributeOptions, DaemonSettings } from "./generated/options";

/** Continue the selection with up to `maxNewTokens` greedily generated tokens. */
export interface GenerateTarget {
    kind: "generate";
    maxNewTokens?: number;
}

/** Force-decode `text` after the selection ("why would the model say this?"). */
export interface TextTarget {
    kind: "text";
    text: string;
}

/** Force-decode the document text that follows the selection; targets get document ranges. */
export interface FollowingTarget {
    kind: "following";
    maxTokens?: number;
}

export type AttributeTarget = GenerateTarget | TextTarget | FollowingTarget;
export type TargetKind = AttributeTarget["kind"];

export interface AttributeParams extends WorkDoneProgressParams, PartialResultParams {
    textDocument: TextDocumentIdentifier;
    range: Range;
    target?: AttributeTarget;
    method?: string;
    options?: AttributeOptions;
    /** The editor's document symbols, flattened, for `granularity: "symbol"` in other languages. */
    symbols?: DocumentSymbolParam[];
}

export interface DocumentSymbolParam {
    name: string;
    kind: string;
    range: Range;
}

/** A span of the context (line, block, function, ...): the spans tile `sourceTokens` in order. */
export interface Span {
    kind: string;
    label: string;
    range: Range | null;
    /** Per target: the span's score (token sums, or measured by a span method). */
    scores: (number | null)[];
    /** First and last source-token index (inclusive). */
    tokens: [number, number];
    /** Span methods: per target, whether the span's tokens were scored one by one. */
    drilled: boolean[] | null;
}

/** How one target's attribution forms through the depth (option `perLayer`). */
export interface PerLayerView {
    /** The target's index into `targetTokens`. */
    target: number;
    /** `[n_layers][S + T]`: row l is the target's layer Integrated Gradients at block l's output; null past the target. */
    scores: (number | null)[][];
    /** Per layer: Σ row − (f(x) − f(x′)). */
    deltas: (number | null)[];
}

export interface ModelInfo {
    name: string;
    device: string;
    dtype: string;
}

export interface SourceToken {
    text: string;
    /** Where the token sits in the document; null for special tokens (BOS) that have no text. */
    range: Range | null;
    special: boolean;
    /** `<0xE2>` for a byte piece that is not a whole character (its text is empty or partial). */
    label?: string;
    /** A chat template's own token (role header, assistant prefix): in the prompt, not in the document. */
    template?: boolean;
}

export interface TargetToken {
    text: string;
    /** A document range only for `kind: "following"`; generated tokens are not in the document. */
    range: Range | null;
    probability: number;
    special?: boolean;
    /** As SourceToken.label. */
    label?: string;
}

export interface AttributeResult {
    id: string;
    model: ModelInfo;
    method: string;
    sourceTokens: SourceToken[];
    targetTokens: TargetToken[];
    /**
     * `[T][S + T]`: row t is target t's attribution to every source token, then to the targets
     * before it; null after the causal boundary (JSON has no NaN).
     */
    scores: (number | null)[][];
    /** One convergence delta per target, or null for methods without one. */
    deltas: (number | null)[] | null;
    targetScores: number[];
    /** f(x') per target, for path methods (what the delta is measured against). */
    baselineScores?: (number | null)[] | null;
    stepFunction?: string;
    baseline?: string;
    nSteps?: number | null;
    /** The request's target kind and the text that was attributed (generated or forced). */
    target?: { kind: TargetKind; text: string };
    /** The engine's verdict per target: |delta| within 5% of what the scores should add up to. */
    converged?: boolean[] | null;
    /** Caveats the engine attached (e.g. "DeepLift is unreliable through softmax"). */
    notes?: string[];
    /** With `options.evaluate`: the engine's faithfulness figures (docs/protocol.md); else null. */
    faithfulness?: Faithfulness | null;
    /** With `options.sanity`: the model-parameter randomisation check; else null. */
    sanity?: SanityCheck | null;
    /** With `options.perLayer`: one target's layer IG at every block's output; else null. */
    perLayer?: PerLayerView | null;
    /** The context's spans at the requested granularity ([] at token granularity for token methods). */
    spans?: Span[];
    /** context_ablation: the surrogate's R² on held-out masks, per target. */
    spanFit?: number[] | null;
    /** Where a document cut to the model's context starts (null: not cut). */
    contextStart?: Position | null;
    /** Wall time of the request on the daemon, and of the computation alone. */
    elapsedMs: number;
    computeMs?: number;
    cached: boolean;
    /** The job's number in the daemon's queue (arrival order across all clients) and its times. */
    job?: { id: number; waitedMs: number; startedMs: number; finishedMs: number };
}

export interface MeanStd {
    mean: number;
    std: number;
}

/** One target's (or the targets' sum's) faithfulness figures. */
export interface FaithfulnessFigures {
    deletion: number[];
    insertion: number[];
    /** Normalised, 1 ideal; null when removing every token barely changes the value (`undefined` says why). */
    deletionAuc: number | null;
    insertionAuc: number | null;
    deletionArea: number;
    insertionArea: number;
    undefined: string | null;
    comprehensiveness: Record<string, number>;
    sufficiency: Record<string, number>;
    random: { orders: number; deletionAuc: MeanStd | null; insertionAuc: MeanStd | null };
}

export interface Faithfulness {
    fractions: number[];
    units: number;
    randomOrders: number;
    targets: (FaithfulnessFigures & { target: number })[];
    total: FaithfulnessFigures;
    mean: {
        deletionAuc: number | null;
        insertionAuc: number | null;
        randomDeletionAuc: number | null;
        randomInsertionAuc: number | null;
        definedTargets: number;
    };
}

export interface SanityCheck {
    layers: string[];
    totalLayers: number;
    spearman: number | null;
    kendall: number | null;
    dependsOnWeights: boolean | null;
    message: string | null;
    note: string | null;
}

export interface CompareParams extends WorkDoneProgressParams {
    textDocument: { uri: string };
    range: Range;
    target?: AttributeTarget;
    /** Method ids; omitted: the daemon's default fast set. */
    methods?: string[];
    options?: AttributeOptions;
}

export interface CompareMethodRow {
    id: string;
    status: "ok" | "refused" | "failed";
    /** Why it did not run (status refused or failed). */
    reason?: string;
    label?: string;
    seconds?: number;
    evaluationSeconds?: number;
    converged?: boolean | null;
    warnings?: string[];
    deletionAuc?: number | null;
    insertionAuc?: number | null;
    randomDeletionAuc?: number | null;
    randomInsertionAuc?: number | null;
    /** The curves summed over targets. */
    deletion?: number[];
    insertion?: number[];
}

export interface CompareResult {
    prompt: string;
    continuation: string | null;
    targetTokens: string[];
    fractions: number[] | null;
    methods: CompareMethodRow[];
    agreement: { a: string; b: string; spearman: number | null; kendall: number | null }[];
    recommendation: { method: string | null; label?: string; reason: string };
    elapsedMs: number;
}

export interface AgainstParams extends WorkDoneProgressParams {
    textDocument: { uri: string };
    /** The first input: its continuation (or class) is the target for both. */
    range: Range;
    otherRange: Range;
    target?: GenerateTarget | TextTarget;
    method?: string;
    options?: AttributeOptions;
}

export interface AgainstRow {
    a: number | null;
    b: number | null;
    text: string;
    textB: string | null;
    scoresA: number[] | null;
    scoresB: number[] | null;
    /** B − A per target; null where the token has no partner. */
    difference: number[] | null;
}

export interface AgainstResult {
    method: string;
    /** Which target both inputs were explained for, in words. */
    target: string;
    targetTokens: string[];
    aligned: AgainstRow[];
    elapsedMs: number;
}

/** `tokenlight/diff`: two results the client holds (as `tokenlight/attribute` answered them). */
export interface DiffParams {
    a: DiffSide;
    b: DiffSide;
}

/** The parts of a result the daemon aligns (a whole AttributeResult satisfies it). */
export interface DiffSide {
    sourceTokens: { text: string }[];
    targetTokens: { text: string }[];
    scores: (number | null)[][];
    method?: string;
    stepFunction?: string;
}

export interface DiffToken {
    text: string;
    indexA: number;
    indexB: number;
}

export interface DiffResult {
    a: { method: string | null; stepFunction: string | null };
    b: { method: string | null; stepFunction: string | null };
    /** The aligned source tokens (text equal on both sides), in order. */
    sourceTokens: DiffToken[];
    targetTokens: DiffToken[];
    /** `[T'][S' + T']`: B − A for each aligned target and aligned column (sources, then targets); null past the causal boundary. */
    scores: (number | null)[][];
    onlyInA: { sources: { text: string; index: number }[]; targets: { text: string; index: number }[] };
    onlyInB: { sources: { text: string; index: number }[]; targets: { text: string; index: number }[] };
    maxAbsDifference: number;
}

export interface MethodInfo {
    id: string;
    label: string;
    /** One line, for pickers. */
    summary?: string;
    description: string;
    family: string;
    convergenceDelta: boolean;
    /** The method can attribute to a layer (`options.layer`). */
    supportsLayer?: boolean;
    parameters?: unknown;
    /** What the method's budget counts: `nSteps` (path methods) or `nSamples` (stochastic ones). */
    budget?: "steps" | "samples" | null;
    /** False for attention weights: no step function is evaluated. */
    usesStepFunction?: boolean;
    /** A warning to show beside the method in pickers (DeepLift on transformers, attention). */
    caveat?: string | null;
}

/** One step function the daemon accepts in `options.stepFunction` (`tokenlight/stepFunctions`). */
export interface StepFunctionInfo {
    id: string;
    description: string;
    /** A difference against something: the contrast token, prompt or text must be given. */
    needsContrast: boolean;
    /** Only against a contrast prompt or text (a contrast token is not enough). */
    needsSequence: boolean;
    /** Shipped with Tokenlight, an installed package's entry point, or registered in the daemon's process. */
    origin: "builtin" | "entryPoint" | "registered";
}

export interface LoadModelParams extends WorkDoneProgressParams {
    /** A model folder, a cached Hugging Face id, or null for the embedded tokenlight-tiny-py. */
    model: string | null;
    device?: string;
    dtype?: string;
}

export interface LoadModelResult {
    name: string;
    device: string;
    dtype: string;
    parameters: number;
    contextLength: number | null;
}

export interface StatusResult {
    /** The resident model, or null before the first job loads one (loading is lazy). */
    model: string | null;
    device: string | null;
    dtype?: string | null;
    memory: unknown;
    busy: boolean;
    queue?: number;
    /** The daemon's one queue in run order (remote daemons serve several clients); ours marked `mine`. */
    jobs?: { id: number; name: string; state: "running" | "queued"; mine: boolean }[];
    /** Clients connected now. */
    sessions?: number;
    cache: { entries: number; hits: number; directory?: string; enabled?: boolean };
    settings?: Record<string, unknown>;
    version?: string;
}

export interface ClearParams {
    textDocument: TextDocumentIdentifier;
}

export interface FocusParams {
    id: string;
    /** The target index to focus, or null to go back to the sum over all targets. */
    target: number | null;
}

/**
 * Initialization options the extension sends: `token` authenticates to a remote daemon; the
 * settings go under `tokenlight`, the same shape `workspace/didChangeConfiguration` carries.
 */
export interface InitializationOptions {
    token?: string;
    tokenlight: DaemonSettings;
}

/** JSON-RPC error codes the daemon answers with, beyond JSON-RPC's own. */
export const ErrorCodes = {
    InvalidParams: -32602,
    InternalError: -32603,
    Unauthorized: -32001,
    ServerNotInitialized: -32002,
    RequestCancelled: -32800,
    /** The selection was edited while the attribution ran: run it again. */
    ContentModified: -32801,
    /** A valid request that failed: model not found, out of memory, ... (`data.kind` says why). */
    RequestFailed: -32803,
} as const;

export const attribute = new RequestType<AttributeParams, AttributeResult, void>("tokenlight/attribute");

/**
 * One `$/progress` value under an attribute request's `partialResultToken`: the targets finished
 * since the previous one, their rows of `scores` and their deltas exactly as the final result will
 * have them; the first also carries the source tokens with their ranges.
 */
export interface AttributePartial {
    targets: number[];
    scores: (number | null)[][];
    deltas: (number | null)[] | null;
    sourceTokens?: SourceToken[];
}
export const attributePartial = new ProgressType<AttributePartial>();
export const methods = new RequestType<Record<string, never>, MethodInfo[], void>("tokenlight/methods");
export const stepFunctions = new RequestType<Record<string, never>, StepFunctionInfo[], void>("tokenlight/stepFunctions");
export const loadModel = new RequestType<LoadModelParams, LoadModelResult, void>("tokenlight/loadModel");
export const status = new RequestType<Record<string, never>, StatusResult, void>("tokenlight/status");
export const clear = new RequestType<ClearParams, null, void>("tokenlight/clear");
export const focus = new RequestType<FocusParams, null, void>("tokenlight/focus");
export const compare = new RequestType<CompareParams, CompareResult, void>("tokenlight/compare");
export const against = new RequestType<AgainstParams, AgainstResult, void>("tokenlight/against");
export const diff = new RequestType<DiffParams, DiffResult, void>("tokenlight/diff");

/** The daemon dropped these results (their text was edited, a newer attribution replaced them, the
 * document was cleared, closed or reopened): their colours go too. */
export interface ResultsDroppedParams {
    uri: string;
    ids: string[];
    reason: "edited" | "replaced" | "cleared" | "closed" | "reopened";
}
export const resultsDropped = new NotificationType<ResultsDroppedParams>("tokenlight/resultsDropped");

/** The command the daemon's inlay hint label parts carry: arguments `[resultId, targetIndex]`. */
export const FOCUS_TARGET_COMMAND = "tokenlight.focusTarget";
