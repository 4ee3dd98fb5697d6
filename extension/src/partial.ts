/**
 * A provisional result assembled from streamed parts (`partialResultToken`), so the selection is
 * coloured as targets finish instead of when the last one does. Pure (no `vscode`): unit-tested in
 * plain Node. The final answer replaces it in the store (same selection); on failure it is deleted.
 */
import type { AttributePartial, AttributeResult, SourceToken } from "./protocol";

export class PartialAssembly {
    private sourceTokens: SourceToken[] | undefined;
    private readonly rows = new Map<number, (number | null)[]>();
    private readonly deltas = new Map<number, number | null>();

    constructor(
        readonly id: string,
        private readonly method: string,
    ) {}

    /** Take one part; the provisional result to show, or undefined before the source tokens are known. */
    add(part: AttributePartial): AttributeResult | undefined {
        if (part.sourceTokens !== undefined) {
            this.sourceTokens = part.sourceTokens;
        }
        part.targets.forEach((target, i) => {
            this.rows.set(target, part.scores[i]);
            if (part.deltas !== null) {
                this.deltas.set(target, part.deltas[i]);
            }
        });
        return this.result();
    }

    /** Finished targets so far, in target order. */
    get finished(): number[] {
        return [...this.rows.keys()].sort((a, b) => a - b);
    }

    result(): AttributeResult | undefined {
        if (this.sourceTokens === undefined || this.rows.size === 0) {
            return undefined;
        }
        const order = this.finished;
        return {
            id: this.id,
            model: { name: "", device: "", dtype: "" },
            method: this.method,
            sourceTokens: this.sourceTokens,
            // targets are not in the parts: only the source tokens are coloured until the answer
            targetTokens: [],
            scores: order.map((t) => this.rows.get(t) ?? []),
            deltas: this.deltas.size > 0 ? order.map((t) => this.deltas.get(t) ?? null) : null,
            targetScores: [],
            elapsedMs: 0,
            cached: false,
        };
    }
}
