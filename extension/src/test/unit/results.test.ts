import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AttributeResult } from "../../protocol";
import {
    applyChanges,
    classifyChange,
    ResultStore,
    resultExtent,
    shiftPosition,
    type ContentChange,
    type Range,
    type StoredResult,
} from "../../results";

const r = (sl: number, sc: number, el: number, ec: number): Range => ({
    start: { line: sl, character: sc },
    end: { line: el, character: ec },
});
const change = (range: Range, text: string): ContentChange => ({ range, text });

function stored(id = "r1", uri = "file:///a.py"): StoredResult {
    const result: AttributeResult = {
        id,
        model: { name: "tiny", device: "cpu", dtype: "float32" },
        method: "integrated_gradients",
        sourceTokens: [
            { text: "<bos>", range: null, special: true },
            { text: "def", range: r(2, 4, 2, 7), special: false },
            { text: " add", range: r(2, 7, 2, 11), special: false },
        ],
        targetTokens: [{ text: "(", range: null, probability: 0.9 }],
        scores: [[0.1, 0.2, 0.3]],
        deltas: [0.01],
        targetScores: [3.2],
        elapsedMs: 12,
        cached: false,
    };
    return {
        uri,
        result,
        selection: r(2, 4, 2, 11),
        request: { target: { kind: "generate", maxNewTokens: 1 } },
        focus: null,
    };
}

describe("shiftPosition", () => {
    it("moves a later character on the edit's last line by the change in length", () => {
        assert.deepEqual(shiftPosition({ line: 2, character: 7 }, change(r(2, 0, 2, 2), "abcde")), {
            line: 2,
            character: 10,
        });
    });
    it("moves later lines when lines are inserted or deleted", () => {
        assert.deepEqual(shiftPosition({ line: 5, character: 3 }, change(r(1, 0, 1, 0), "x\ny\n")), {
            line: 7,
            character: 3,
        });
        assert.deepEqual(shiftPosition({ line: 5, character: 3 }, change(r(1, 0, 3, 0), "")), {
            line: 3,
            character: 3,
        });
    });
    it("handles a multi-line insertion ending on the position's line", () => {
        // "ab|cd" with "X\nYZ" inserted at column 1 of line 0: "c" (col 2) is now on line 1 col 3.
        assert.deepEqual(shiftPosition({ line: 0, character: 2 }, change(r(0, 1, 0, 1), "X\nYZ")), {
            line: 1,
            character: 3,
        });
    });
    it("treats \\r\\n as one line break", () => {
        assert.deepEqual(shiftPosition({ line: 0, character: 2 }, change(r(0, 0, 0, 0), "a\r\nb")), {
            line: 1,
            character: 3,
        });
    });
});

describe("classifyChange (mirrors the daemon's Anchor.apply_edit)", () => {
    const extent = r(2, 4, 2, 11);
    it("an edit before the extent shifts it", () => {
        assert.equal(classifyChange(extent, change(r(0, 0, 1, 0), "")), "before");
        assert.equal(classifyChange(extent, change(r(2, 0, 2, 4), "xx")), "before");
    });
    it("an insertion exactly at the start shifts it", () => {
        assert.equal(classifyChange(extent, change(r(2, 4, 2, 4), "x")), "before");
    });
    it("an insertion exactly at the end leaves it alone (ghost text stays put)", () => {
        assert.equal(classifyChange(extent, change(r(2, 11, 2, 11), "x")), "after");
    });
    it("an edit touching its text drops it", () => {
        assert.equal(classifyChange(extent, change(r(2, 5, 2, 5), "x")), "overlap");
        assert.equal(classifyChange(extent, change(r(2, 3, 2, 5), "")), "overlap");
        assert.equal(classifyChange(extent, change(r(2, 10, 3, 0), "")), "overlap");
        assert.equal(classifyChange(extent, change(r(0, 0, 9, 0), "")), "overlap");
    });
});

describe("applyChanges", () => {
    it("shifts every token range and the selection for an edit above", () => {
        const next = applyChanges(stored(), [change(r(0, 0, 0, 0), "# header\n")]);
        assert.ok(next !== undefined);
        assert.deepEqual(next.selection, r(3, 4, 3, 11));
        assert.deepEqual(next.result.sourceTokens[1].range, r(3, 4, 3, 7));
        assert.deepEqual(next.result.sourceTokens[2].range, r(3, 7, 3, 11));
        assert.equal(next.result.sourceTokens[0].range, null);
    });
    it("returns the same object for an edit after it", () => {
        const s = stored();
        assert.equal(applyChanges(s, [change(r(5, 0, 5, 0), "x")]), s);
    });
    it("drops the result for an edit inside it", () => {
        assert.equal(applyChanges(stored(), [change(r(2, 8, 2, 9), "D")]), undefined);
    });
    it("applies several changes in order, each in the previous one's coordinates", () => {
        const next = applyChanges(stored(), [change(r(2, 0, 2, 0), "ab"), change(r(2, 0, 2, 1), "")]);
        assert.deepEqual(next?.selection, r(2, 5, 2, 12));
    });
    it("includes following-mode target ranges in the extent", () => {
        const s = stored();
        s.result.targetTokens = [{ text: "(a", range: r(2, 11, 2, 13), probability: 0.5 }];
        assert.deepEqual(resultExtent(s), r(2, 4, 2, 13));
        assert.equal(applyChanges(s, [change(r(2, 12, 2, 12), "x")]), undefined);
    });
});

describe("ResultStore", () => {
    it("keeps one result per document and finds it by id", () => {
        const store = new ResultStore();
        store.set(stored("r1"));
        store.set(stored("r2"));
        assert.equal(store.get("file:///a.py")?.result.id, "r2");
        assert.equal(store.byId("r1"), undefined);
        assert.equal(store.byId("r2")?.uri, "file:///a.py");
    });
    it("prefers the active document's result, else the most recent", () => {
        const store = new ResultStore();
        store.set(stored("a", "file:///a.py"));
        store.set(stored("b", "file:///b.py"));
        assert.equal(store.current("file:///a.py")?.result.id, "a");
        assert.equal(store.current("file:///other.py")?.result.id, "b");
        assert.equal(store.current()?.result.id, "b");
    });
    it("reports what an edit did and forgets dropped results", () => {
        const store = new ResultStore();
        store.set(stored());
        assert.equal(store.applyChanges("file:///zzz", []), "none");
        assert.equal(store.applyChanges("file:///a.py", [change(r(9, 0, 9, 0), "x")]), "unchanged");
        assert.equal(store.applyChanges("file:///a.py", [change(r(0, 0, 0, 0), "\n")]), "shifted");
        assert.deepEqual(store.get("file:///a.py")?.selection, r(3, 4, 3, 11));
        assert.equal(store.applyChanges("file:///a.py", [change(r(3, 5, 3, 6), "")]), "dropped");
        assert.equal(store.get("file:///a.py"), undefined);
    });
    it("sets focus and clears everything", () => {
        const store = new ResultStore();
        store.set(stored());
        assert.equal(store.setFocus("file:///a.py", 0)?.focus, 0);
        assert.equal(store.setFocus("file:///none", 0), undefined);
        assert.deepEqual(store.clear(), ["file:///a.py"]);
        assert.equal(store.current(), undefined);
    });
});
