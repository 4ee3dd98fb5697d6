import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AttributeResult } from "../../protocol";
import {
    applyChanges,
    classifyChange,
    replaces,
    ResultStore,
    resultExtent,
    shiftPosition,
    topTokens,
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

/** A result of `uri` whose selection (and only source token) is `selection`. */
function at(id: string, selection: Range, uri = "file:///a.py"): StoredResult {
    const s = stored(id, uri);
    s.selection = selection;
    s.result = {
        ...s.result,
        sourceTokens: [
            { text: "<bos>", range: null, special: true },
            { text: "x", range: selection, special: false },
        ],
        scores: [[0.1, 0.2]],
    };
    return s;
}

describe("replaces (mirrors the daemon's Anchor.overlaps)", () => {
    it("a result replaces one whose text it overlaps, not one beside it", () => {
        assert.equal(replaces(at("n", r(2, 0, 2, 10)), at("o", r(2, 5, 2, 20))), true);
        assert.equal(replaces(at("n", r(2, 0, 2, 10)), at("o", r(2, 0, 2, 10))), true);
        assert.equal(replaces(at("n", r(2, 0, 2, 10)), at("o", r(2, 10, 2, 20))), false, "touching ends");
        assert.equal(replaces(at("n", r(2, 0, 2, 10)), at("o", r(5, 0, 5, 10))), false, "another line");
    });
    it("following targets are part of the text", () => {
        const following = at("o", r(2, 0, 2, 5));
        following.result.targetTokens = [{ text: "y", range: r(2, 5, 3, 2), probability: 0.5 }];
        assert.equal(replaces(at("n", r(3, 0, 3, 4)), following), true);
    });
    it("an empty selection replaces only a result with the same selection", () => {
        assert.equal(replaces(at("n", r(4, 2, 4, 2)), at("o", r(4, 2, 4, 2))), true);
        assert.equal(replaces(at("n", r(4, 2, 4, 2)), at("o", r(4, 0, 4, 6))), false);
    });
});

describe("ResultStore", () => {
    it("keeps every result of a document whose texts do not overlap, each findable by id", () => {
        const store = new ResultStore();
        assert.deepEqual(store.add(at("r1", r(0, 0, 0, 10))), []);
        assert.deepEqual(store.add(at("r2", r(3, 0, 3, 10))), []);
        assert.deepEqual(
            store.forUri("file:///a.py").map((s) => s.result.id),
            ["r1", "r2"],
        );
        assert.equal(store.byId("r1")?.uri, "file:///a.py");
        assert.equal(store.byId("r2")?.uri, "file:///a.py");
        assert.equal(store.size, 2);
    });
    it("a new result replaces the ones it overlaps (as the daemon does) and returns them", () => {
        const store = new ResultStore();
        store.add(at("r1", r(0, 0, 0, 10)));
        store.add(at("r2", r(3, 0, 3, 10)));
        const replaced = store.add(at("r3", r(0, 4, 0, 12)));
        assert.deepEqual(replaced.map((s) => s.result.id), ["r1"]);
        assert.deepEqual(store.forUri("file:///a.py").map((s) => s.result.id), ["r2", "r3"]);
        assert.equal(store.byId("r1"), undefined);
        assert.equal(store.latest()?.result.id, "r3");
    });
    it("acts on the result under the cursor, else the active document's latest, else the latest", () => {
        const store = new ResultStore();
        store.add(at("a1", r(0, 0, 0, 10)));
        store.add(at("a2", r(3, 0, 3, 10)));
        store.add(at("b1", r(0, 0, 0, 10), "file:///b.py"));
        // Under the cursor (the selection's end counts: where the cursor is after selecting).
        assert.equal(store.current("file:///a.py", { line: 0, character: 4 })?.result.id, "a1");
        assert.equal(store.current("file:///a.py", { line: 0, character: 10 })?.result.id, "a1");
        assert.equal(store.current("file:///a.py", { line: 3, character: 0 })?.result.id, "a2");
        // Not under any: the active document's most recent, then the most recent anywhere.
        assert.equal(store.current("file:///a.py", { line: 9, character: 0 })?.result.id, "a2");
        assert.equal(store.current("file:///a.py")?.result.id, "a2");
        assert.equal(store.current("file:///other.py", { line: 0, character: 4 })?.result.id, "b1");
        assert.equal(store.current()?.result.id, "b1");
    });
    it("focusing a result makes it the most recent and keeps the others", () => {
        const store = new ResultStore();
        store.add(at("r1", r(0, 0, 0, 10)));
        store.add(at("r2", r(3, 0, 3, 10)));
        assert.equal(store.setFocus("r1", 0)?.focus, 0);
        assert.equal(store.byId("r1")?.focus, 0);
        assert.equal(store.byId("r2")?.focus, null);
        assert.equal(store.current("file:///a.py")?.result.id, "r1");
        assert.equal(store.setFocus("gone", 0), undefined);
    });
    it("keeps the previous result of a range: replaced by a re-run, or dropped by an edit of its text", () => {
        const store = new ResultStore();
        store.add(at("r1", r(2, 0, 2, 10)));
        store.add(at("far", r(8, 0, 8, 10)));
        assert.equal(store.previous(store.byId("r1") as StoredResult), undefined, "nothing before the first");
        // a re-run of the same range (Switch Method): the replaced result is the previous one
        store.add(at("r2", r(2, 0, 2, 10)));
        assert.equal(store.previous(store.byId("r2") as StoredResult)?.result.id, "r1");
        // an edit inside the selection drops r2; the re-attributed (longer) selection finds it
        const { dropped } = store.applyChanges("file:///a.py", [change(r(2, 5, 2, 5), ", c")]);
        assert.deepEqual(dropped.map((d) => d.result.id), ["r2"]);
        store.add(at("r3", r(2, 0, 2, 13)));
        assert.equal(store.previous(store.byId("r3") as StoredResult)?.result.id, "r2");
        // another range's history is its own; an edit before a previous result moves it along
        assert.equal(store.previous(store.byId("far") as StoredResult), undefined);
        store.applyChanges("file:///a.py", [change(r(0, 0, 0, 0), "\n\n")]);
        store.add(at("r4", r(4, 0, 4, 13)));
        assert.equal(store.previous(store.byId("r4") as StoredResult)?.result.id, "r3");
        // provisional (streamed) results are never a previous one; Clear forgets the history
        store.add(at("partial-x", r(4, 0, 4, 13)));
        store.add(at("r5", r(4, 0, 4, 13)));
        assert.equal(store.previous(store.byId("r5") as StoredResult)?.result.id, "r4");
        store.clear();
        store.add(at("r6", r(4, 0, 4, 13)));
        assert.equal(store.previous(store.byId("r6") as StoredResult), undefined);
    });
    it("a drill-down is kept per result, through edits before it, and a new result starts in the span view", () => {
        const store = new ResultStore();
        store.add(at("r1", r(2, 0, 2, 10)));
        store.add(at("r2", r(5, 0, 5, 10)));
        assert.equal(store.setDrill("r1", 3)?.drill, 3);
        assert.equal(store.byId("r2")?.drill, undefined);
        store.applyChanges("file:///a.py", [change(r(0, 0, 0, 0), "x\n")]);
        assert.equal(store.byId("r1")?.drill, 3);
        assert.equal(store.setDrill("r1", null)?.drill, null);
        store.setDrill("r1", 1);
        store.add(at("r3", r(2, 0, 2, 10)));
        assert.equal(store.byId("r3")?.drill, undefined);
        assert.equal(store.setDrill("gone", 0), undefined);
    });
    it("an edit drops only the results whose text it touches, and shifts the ones after it", () => {
        const store = new ResultStore();
        store.add(at("r1", r(0, 0, 0, 10)));
        store.add(at("r2", r(3, 0, 3, 10)));
        assert.deepEqual(store.applyChanges("file:///zzz", []), { dropped: [], shifted: false });
        assert.deepEqual(store.applyChanges("file:///a.py", [change(r(9, 0, 9, 0), "x")]), { dropped: [], shifted: false });
        // Typing inside r1 drops it; r2, below, moves down a line with the inserted newline.
        const outcome = store.applyChanges("file:///a.py", [change(r(0, 5, 0, 5), "\n")]);
        assert.deepEqual(outcome.dropped.map((s) => s.result.id), ["r1"]);
        assert.equal(outcome.shifted, true);
        assert.deepEqual(store.forUri("file:///a.py").map((s) => s.result.id), ["r2"]);
        assert.deepEqual(store.byId("r2")?.selection, r(4, 0, 4, 10));
        assert.equal(store.latest()?.result.id, "r2");
        store.applyChanges("file:///a.py", [change(r(4, 1, 4, 2), "")]);
        assert.deepEqual(store.uris(), []);
        assert.equal(store.latest(), undefined);
    });
    it("deletes one result, a document's results, or everything", () => {
        const store = new ResultStore();
        store.add(at("a1", r(0, 0, 0, 10)));
        store.add(at("a2", r(3, 0, 3, 10)));
        store.add(at("b1", r(0, 0, 0, 10), "file:///b.py"));
        assert.equal(store.delete("a2")?.result.id, "a2");
        assert.equal(store.delete("a2"), undefined);
        assert.equal(store.current("file:///a.py")?.result.id, "a1");
        assert.deepEqual(store.deleteUri("file:///a.py").map((s) => s.result.id), ["a1"]);
        assert.deepEqual(store.uris(), ["file:///b.py"]);
        assert.deepEqual(store.clear().map((s) => s.result.id), ["b1"]);
        assert.equal(store.current(), undefined);
        assert.equal(store.size, 0);
    });
});

describe("ResultStore.markStale (after Switch Model)", () => {
    it("marks the results of another model with the model now loaded, and clears the mark for its own", () => {
        const store = new ResultStore();
        store.add(stored("r1", "file:///a.py"));
        const other = stored("r2", "file:///b.py");
        other.result.model = { name: "gpt2", device: "cpu", dtype: "float32" };
        store.add(other);
        const changed = store.markStale("gpt2");
        assert.deepEqual(changed.map((s) => s.result.id), ["r1"]);
        assert.equal(store.byId("r1")?.staleSince, "gpt2");
        assert.equal(store.byId("r2")?.staleSince, undefined);
        assert.deepEqual(store.markStale("gpt2"), [], "marking again changes nothing");
        store.markStale("tiny");
        assert.equal(store.byId("r1")?.staleSince, undefined);
        assert.equal(store.byId("r2")?.staleSince, "tiny");
        assert.deepEqual(store.all().map((s) => s.result.id), ["r1", "r2"]);
    });
});

describe("topTokens (the Tokenlight view's per-target list)", () => {
    it("lists scored non-special sources by |score|, largest first", () => {
        const s = stored();
        s.result.sourceTokens.push({ text: ":", range: r(2, 11, 2, 12), special: false });
        s.result.scores = [[9, 0.2, -0.5, null]];
        assert.deepEqual(topTokens(s, 0), [2, 1], "BOS (special) and the unscored token are left out");
        assert.deepEqual(topTokens(s, 0, 1), [2]);
    });
});
