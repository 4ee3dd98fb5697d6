/**
 * The results the extension is colouring, and how they follow edits. Pure: no `vscode` (ranges
 * are plain LSP-shaped objects), so the edit maths is unit-tested in plain Node.
 *
 * The rule mirrors the daemon's (DESIGN.md, Protocol): a stored result shifts with edits before
 * it and is dropped when an edit touches its text. Its text is the extent from the first to the
 * last character it covers (the selection, its source tokens and, for `following`, its targets).
 * An insertion exactly at the extent's start shifts it; one exactly at its end leaves it alone:
 * neither changes a character the result was computed from.
 */
import type { AttributeOptions, AttributeResult, AttributeTarget } from "./protocol";

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

/**
 * The results on show: at most one per document (a new attribution replaces the old one, so two
 * colourings never mix), plus which one commands act on when no editor says otherwise.
 */
export class ResultStore {
    private readonly byUri = new Map<string, StoredResult>();
    private lastUri: string | undefined;

    set(stored: StoredResult): void {
        this.byUri.set(stored.uri, stored);
        this.lastUri = stored.uri;
    }

    get(uri: string): StoredResult | undefined {
        return this.byUri.get(uri);
    }

    byId(id: string): StoredResult | undefined {
        for (const stored of this.byUri.values()) {
            if (stored.result.id === id) {
                return stored;
            }
        }
        return undefined;
    }

    /** The active document's result, else the most recently set one that is still stored. */
    current(activeUri?: string): StoredResult | undefined {
        const active = activeUri === undefined ? undefined : this.byUri.get(activeUri);
        return active ?? (this.lastUri === undefined ? undefined : this.byUri.get(this.lastUri));
    }

    setFocus(uri: string, focus: number | null): StoredResult | undefined {
        const stored = this.byUri.get(uri);
        if (stored === undefined) {
            return undefined;
        }
        const updated = { ...stored, focus };
        this.byUri.set(uri, updated);
        this.lastUri = uri;
        return updated;
    }

    delete(uri: string): boolean {
        return this.byUri.delete(uri);
    }

    /** Drop everything (the daemon restarted: its result ids mean nothing any more). */
    clear(): string[] {
        const uris = [...this.byUri.keys()];
        this.byUri.clear();
        this.lastUri = undefined;
        return uris;
    }

    /** Follow an edit; says whether the document's result was kept as is, shifted, or dropped. */
    applyChanges(uri: string, changes: readonly ContentChange[]): "none" | "unchanged" | "shifted" | "dropped" {
        const stored = this.byUri.get(uri);
        if (stored === undefined) {
            return "none";
        }
        const next = applyChanges(stored, changes);
        if (next === undefined) {
            this.byUri.delete(uri);
            return "dropped";
        }
        this.byUri.set(uri, next);
        return next === stored ? "unchanged" : "shifted";
    }

    uris(): string[] {
        return [...this.byUri.keys()];
    }
}
