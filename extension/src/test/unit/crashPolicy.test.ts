import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CrashPolicy, MAX_RESTARTS, RESTART_WINDOW_MS } from "../../crashPolicy";

describe("CrashPolicy", () => {
    it("restarts up to MAX_RESTARTS crashes within the window, then stops", () => {
        let now = 0;
        const policy = new CrashPolicy(() => now);
        const verdicts = [];
        for (let i = 0; i < MAX_RESTARTS + 1; i++) {
            verdicts.push(policy.crashed());
            now += 1000;
        }
        assert.deepEqual(
            verdicts.map((v) => v.restart),
            [true, true, true, true, false],
        );
        assert.equal(verdicts.at(-1)?.crashes, MAX_RESTARTS + 1);
    });

    it("forgets crashes older than the window", () => {
        let now = 0;
        const policy = new CrashPolicy(() => now);
        for (let i = 0; i < MAX_RESTARTS; i++) {
            policy.crashed();
        }
        now += RESTART_WINDOW_MS; // all four are now exactly one window old: out of it
        assert.deepEqual(policy.crashed(), { restart: true, crashes: 1 });
    });

    it("starts a fresh count after an explicit restart", () => {
        const policy = new CrashPolicy(() => 0);
        for (let i = 0; i < MAX_RESTARTS + 1; i++) {
            policy.crashed();
        }
        policy.reset();
        assert.deepEqual(policy.crashed(), { restart: true, crashes: 1 });
    });
});
