/**
 * The results the extension is colouring, and how they follow edits. Pure: no `vscode` (ranges
 * are plain LSP-shaped objects), so the edit maths is unit-tested in plain Node.
 *
 * The rule mirrors the daemon's (docs/protocol.md): a stored result shifts with edits before
 * it and is dropped when an edit touches its text. Its text is the extent from the first to the
 * last character it covers (the selection, its source tokens and, for `following`, its targets).
 * An insertion exactly at the extent's start shifts it; one exactly at its end leaves it alone:
 * neither changes a character the result was computed from. A document holds several results,
 * and a new one replaces those whose text it overlaps (the daemon's `Anchor.overlaps`). The daemon
 * also names every result it drops (`tokenlight/resultsDropped {uri, ids, reason}`), and the
 * extension deletes those from this store (extension.ts): that word is final. Applying the same
 * rules here keeps the colours right from the edit until the notification arrives (the protocol
 * integration test checks the two agree against the real daemon).
 */
import type { AttributeOptions, AttributeResult, AttributeTarget } from "./protocol";

/** The id prefix of a provisional result assembled from streamed parts (partial.ts): never a previous result. */
export const PROVISIONAL_PREFIX = "partial-";

/** How many source tokens the Tokenlight view lists per target: the strongest by |score|. */
export const TOP_TOKENS = 5;

/** The strongest `n` scored, non-special source tokens of `target`: indices, by |score|, largest first. */
export function topTokens(stored: StoredResult, target: number, n: number = TOP_TOKENS): number[] {
    const row = stored.result.scores[target] ?? [];
    const candidates: number[] = [];
    stored.result.sourceTokens.forEach((token, i) => {
        const v = row[i];
        if (!token.special && typeof v === "number" && Number.isFinite(v)) {
            candidates.push(i);
        }
    });
    return candidates.sort((a, b) => Math.abs(row[b] ?? 0) - Math.abs(row[a] ?? 0)).slice(0, n);
}

export interface Position {
    line: number;
    character: number;
}

export interface Range {
    start: Position;
    end: Position;
}

/** One incremental change, as `TextDocumentContentChangeEvent` (range in pre-change coordinates). */
export interface ContentChange {
    range: Range;
    text: string;
}

export function comparePositions(a: Position, b: Position): number {
    return a.line !== b.line ? a.line - b.line : a.character - b.character;
}

/** A position at or after `change.range.end`, moved to where the same character is after the change. */
export function shiftPosition(p: Position, change: ContentChange): Position {
    const { start, end } = change.range;
    const lines = change.text.split(/\r\n|\r|\n/);
    const added = lines.length - 1;
    const lastLength = lines[lines.length - 1].length;
    if (p.line === end.line) {
        const base = added === 0 ? start.character + lastLength : lastLength;
        return { line: start.line + added, character: base + (p.character - end.character) };
    }
    return { line: p.line + added - (end.line - start.line), character: p.character };
}

export type EditEffect = "after" | "before" | "overlap";

/** Where `change` falls relative to `extent`: after it, before it (shift), or touching it (drop). */
export function classifyChange(extent: Range, change: ContentChange): EditEffect {
    if (comparePositions(change.range.start, extent.end) >= 0) {
        return "after";
    }
    if (comparePositions(change.range.end, extent.start) <= 0) {
        return "before";
    }
    return "overlap";
}

export function shiftRange(range: Range, change: ContentChange): Range {
    return { start: shiftPosition(range.start, change), end: shiftPosition(range.end, change) };
}

/** Everything the extension keeps about one attribution it is showing. */
export interface StoredResult {
    uri: string;
    result: AttributeResult;
    /** The selection the attribution was requested for (document coordinates, kept shifted). */
    selection: Range;
    /** What was asked, so Switch Method can re-run the same attribution with another method. */
    request: { target: AttributeTarget; method?: string; options?: AttributeOptions };
    /** The focused target index, or null for the sum over all targets. */
    focus: number | null;
    /**
     * For a result shown as spans: the span whose tokens are coloured (a drill-down), or
     * null/absent for the span view.
     */
    drill?: number | null;
    /**
     * Set when the daemon has since switched to another model: the name of that model. The result
     * still shows (it is what the old model said) but is marked as stale everywhere it appears.
     */
    staleSince?: string;
}

/** The smallest range covering the selection and every token range of the result. */
export function resultExtent(stored: StoredResult): Range {
    let start = stored.selection.start;
    let end = stored.selection.end;
    const tokens = [...stored.result.sourceTokens, ...stored.result.targetTokens];
    for (const token of tokens) {
        if (token.range === null) {
            continue;
        }
        if (comparePositions(token.range.start, start) < 0) {
            start = token.range.start;
        }
        if (comparePositions(token.range.end, end) > 0) {
            end = token.range.end;
        }
    }
    return { start, end };
}

/** `stored` after one change: the same object, a shifted copy, or undefined when dropped. */
export function applyChange(stored: StoredResult, change: ContentChange): StoredResult | undefined {
    const effect = classifyChange(resultExtent(stored), change);
    if (effect === "after") {
        return stored;
    }
    if (effect === "overlap") {
        return undefined;
    }
    const shift = <T extends { range: Range | null }>(token: T): T =>
        token.range === null ? token : { ...token, range: shiftRange(token.range, change) };
    return {
        ...stored,
        selection: shiftRange(stored.selection, change),
        result: {
            ...stored.result,
            sourceTokens: stored.result.sourceTokens.map(shift),
            targetTokens: stored.result.targetTokens.map(shift),
            ...(stored.result.spans === undefined ? {} : { spans: stored.result.spans.map(shift) }),
        },
    };
}

/** Changes of one edit are applied in order, each in the coordinates the previous one left. */
export function applyChanges(
    stored: StoredResult,
    changes: readonly ContentChange[],
): StoredResult | undefined {
    let current: StoredResult | undefined = stored;
    for (const change of changes) {
        if (current === undefined) {
            break;
        }
        current = applyChange(current, change);
    }
    return current;
}

function isEmpty(range: Range): boolean {
    return comparePositions(range.start, range.end) === 0;
}

/**
 * Whether a new result replaces `old` (both in the same document): the daemon's
 * `Anchor.overlaps`. Their extents overlap; an empty one (an empty selection) replaces only a
 * result with the same selection.
 */
export function replaces(added: StoredResult, old: StoredResult): boolean {
    const a = resultExtent(added);
    const b = resultExtent(old);
    if (isEmpty(a) || isEmpty(b)) {
        return (
            comparePositions(added.selection.start, old.selection.start) === 0 &&
            comparePositions(added.selection.end, old.selection.end) === 0
        );
    }
    return comparePositions(a.start, b.end) < 0 && comparePositions(b.start, a.end) < 0;
}

/** Whether `position` lies in the result's text (its ends included: a cursor right after it counts). */
export function contains(stored: StoredResult, position: Position): boolean {
    const extent = resultExtent(stored);
    return comparePositions(extent.start, position) <= 0 && comparePositions(position, extent.end) <= 0;
}

/** Whether two ranges share a line (how "the same range" is told after its text was edited). */
export function sharesLines(a: Range, b: Range): boolean {
    return a.start.line <= b.end.line && b.start.line <= a.end.line;
}

/** A result no longer on show (its text was edited, or a newer one replaced it), kept for Compare With Previous. */
export interface PreviousResult {
    uri: string;
    /** Its selection, moved by later edits before it (an edit inside it leaves it where it was). */
    selection: Range;
    result: AttributeResult;
}

/** How many results each document keeps for Compare With Previous. */
export const MAX_PREVIOUS = 16;

/** What one edit did to a document's results. */
export interface EditOutcome {
    /** The results the edit touched: gone here, as in the daemon. */
    dropped: StoredResult[];
    /** Whether any kept result moved. */
    shifted: boolean;
}

/**
 * Every live result, by document, as the daemon keeps them: several per document, each known by
 * its id. A new result replaces the results whose text it overlaps (the daemon does the same), an
 * edit moves or drops each one on its own, and commands pick the result under the cursor or the
 * most recent one.
 */
export class ResultStore {
    /** Per document, oldest first. */
    private readonly byUri = new Map<string, StoredResult[]>();
    /** Result ids, least recently added or focused first. */
    private recency: string[] = [];
    /** Per document, the results that left it (oldest first), for Compare With Previous. */
    private readonly gone = new Map<string, PreviousResult[]>();

    /** Add a result; returns the results of the same document it replaced. */
    add(stored: StoredResult): StoredResult[] {
        const results = this.byUri.get(stored.uri) ?? [];
        const replaced = results.filter((old) => old.result.id === stored.result.id || replaces(stored, old));
        this.byUri.set(stored.uri, [...results.filter((old) => !replaced.includes(old)), stored]);
        this.forget(replaced);
        this.remember(replaced.filter((old) => old.result.id !== stored.result.id));
        this.touch(stored.result.id);
        return replaced;
    }

    /**
     * The result that was on show for the same range before `stored` (the most recent that left
     * the document and shares a line with its selection), if any: what Compare With Previous
     * compares with.
     */
    previous(stored: StoredResult): PreviousResult | undefined {
        const candidates = this.gone.get(stored.uri) ?? [];
        for (let i = candidates.length - 1; i >= 0; i--) {
            const old = candidates[i];
            if (old.result.id !== stored.result.id && sharesLines(old.selection, stored.selection)) {
                return old;
            }
        }
        return undefined;
    }

    /** The document's results, oldest first. */
    forUri(uri: string): readonly StoredResult[] {
        return this.byUri.get(uri) ?? [];
    }

    byId(id: string): StoredResult | undefined {
        for (const results of this.byUri.values()) {
            const found = results.find((stored) => stored.result.id === id);
            if (found !== undefined) {
                return found;
            }
        }
        return undefined;
    }

    /** The most recently added (or focused) result of `uri`, or of any document. */
    latest(uri?: string): StoredResult | undefined {
        for (let i = this.recency.length - 1; i >= 0; i--) {
            const stored = this.byId(this.recency[i]);
            if (stored !== undefined && (uri === undefined || stored.uri === uri)) {
                return stored;
            }
        }
        return undefined;
    }

    /**
     * What a command acts on: the result under `position` in `activeUri` (the newest, where
     * several touch it), else the active document's most recent, else the most recent anywhere.
     */
    current(activeUri?: string, position?: Position): StoredResult | undefined {
        if (activeUri !== undefined) {
            if (position !== undefined) {
                const under = this.forUri(activeUri).filter((stored) => contains(stored, position));
                if (under.length > 0) {
                    return under.reduce((a, b) => (this.rank(b) > this.rank(a) ? b : a));
                }
            }
            const inDocument = this.latest(activeUri);
            if (inDocument !== undefined) {
                return inDocument;
            }
        }
        return this.latest();
    }

    /** Set a result's focused target (it becomes the most recent); undefined if it is gone. */
    setFocus(id: string, focus: number | null): StoredResult | undefined {
        const stored = this.byId(id);
        if (stored === undefined) {
            return undefined;
        }
        const updated = { ...stored, focus };
        this.replaceInPlace(stored, updated);
        this.touch(id);
        return updated;
    }

    /** Drill down into span `span` of a result (null: back to the span view); undefined if it is gone. */
    setDrill(id: string, span: number | null): StoredResult | undefined {
        const stored = this.byId(id);
        if (stored === undefined) {
            return undefined;
        }
        const updated = { ...stored, drill: span };
        this.replaceInPlace(stored, updated);
        this.touch(id);
        return updated;
    }

    /**
     * The daemon now holds `model`: every result computed by another model is marked stale (one
     * computed by `model` again loses the mark). Returns the results whose mark changed.
     */
    markStale(model: string): StoredResult[] {
        const changed: StoredResult[] = [];
        for (const [uri, results] of this.byUri) {
            this.byUri.set(
                uri,
                results.map((stored) => {
                    const staleSince = stored.result.model.name === model ? undefined : model;
                    if (staleSince === stored.staleSince) {
                        return stored;
                    }
                    const updated = { ...stored, staleSince };
                    changed.push(updated);
                    return updated;
                }),
            );
        }
        return changed;
    }

    /** Every stored result, document by document, oldest first. */
    all(): StoredResult[] {
        return [...this.byUri.values()].flat();
    }

    /** Drop one result; returns it, or undefined when it was not stored. */
    delete(id: string): StoredResult | undefined {
        const stored = this.byId(id);
        if (stored === undefined) {
            return undefined;
        }
        const rest = this.forUri(stored.uri).filter((other) => other !== stored);
        if (rest.length > 0) {
            this.byUri.set(stored.uri, rest);
        } else {
            this.byUri.delete(stored.uri);
        }
        this.forget([stored]);
        this.remember([stored]);
        return stored;
    }

    /** Drop every result of a document (closed, cleared), and what it kept for comparing; returns them. */
    deleteUri(uri: string): StoredResult[] {
        const results = [...this.forUri(uri)];
        this.byUri.delete(uri);
        this.gone.delete(uri);
        this.forget(results);
        return results;
    }

    /** Drop everything (Clear, or a restarted daemon), previous results too; returns what was on show. */
    clear(): StoredResult[] {
        const all = [...this.byUri.values()].flat();
        this.byUri.clear();
        this.gone.clear();
        this.recency = [];
        return all;
    }

    /** Follow an edit of `uri`: each result shifts, stays, or is dropped, on its own. */
    applyChanges(uri: string, changes: readonly ContentChange[]): EditOutcome {
        const outcome: EditOutcome = { dropped: [], shifted: false };
        this.shiftPrevious(uri, changes);
        const results = this.byUri.get(uri);
        if (results === undefined) {
            return outcome;
        }
        const kept: StoredResult[] = [];
        for (const stored of results) {
            const next = applyChanges(stored, changes);
            if (next === undefined) {
                outcome.dropped.push(stored);
            } else {
                kept.push(next);
                outcome.shifted ||= next !== stored;
            }
        }
        if (kept.length > 0) {
            this.byUri.set(uri, kept);
        } else {
            this.byUri.delete(uri);
        }
        this.forget(outcome.dropped);
        this.remember(outcome.dropped);
        return outcome;
    }

    /** Results that left the document keep their place: shifted by edits before them, else left. */
    private shiftPrevious(uri: string, changes: readonly ContentChange[]): void {
        const kept = this.gone.get(uri);
        if (kept === undefined) {
            return;
        }
        for (const old of kept) {
            for (const change of changes) {
                if (classifyChange(old.selection, change) === "before") {
                    old.selection = shiftRange(old.selection, change);
                }
            }
        }
    }

    /** Keep results that left the document for Compare With Previous (not the streamed provisional ones). */
    private remember(results: readonly StoredResult[]): void {
        for (const stored of results) {
            if (stored.result.id.startsWith(PROVISIONAL_PREFIX)) {
                continue;
            }
            const kept = (this.gone.get(stored.uri) ?? []).filter((old) => old.result.id !== stored.result.id);
            kept.push({ uri: stored.uri, selection: stored.selection, result: stored.result });
            this.gone.set(stored.uri, kept.slice(-MAX_PREVIOUS));
        }
    }

    /** The documents that have results. */
    uris(): string[] {
        return [...this.byUri.keys()];
    }

    /** How many results are stored, over all documents. */
    get size(): number {
        let n = 0;
        for (const results of this.byUri.values()) {
            n += results.length;
        }
        return n;
    }

    private rank(stored: StoredResult): number {
        return this.recency.indexOf(stored.result.id);
    }

    private touch(id: string): void {
        this.recency = [...this.recency.filter((other) => other !== id), id];
    }

    private forget(results: readonly StoredResult[]): void {
        const ids = new Set(results.map((stored) => stored.result.id));
        this.recency = this.recency.filter((id) => !ids.has(id));
    }

    private replaceInPlace(old: StoredResult, updated: StoredResult): void {
        this.byUri.set(
            old.uri,
            this.forUri(old.uri).map((stored) => (stored === old ? updated : stored)),
        );
    }
}
