import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { DaemonLease, isAlive, isDaemon } from "../../daemonLease";

/**
 * A stand-in daemon: a real process whose command line reads `<node> -m tokenlight serve` (node
 * ignores the extra argv after `-e`), so `isDaemon` recognises it the way it recognises the real one.
 */
function fakeDaemon(): ChildProcess {
    return spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", "--", "-m", "tokenlight", "serve"], { stdio: "ignore" });
}

async function exited(child: ChildProcess, ms = 5000): Promise<boolean> {
    if (child.exitCode !== null || child.signalCode !== null) {
        return true;
    }
    return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        child.once("exit", () => {
            clearTimeout(timer);
            resolve(true);
        });
    });
}

const children: ChildProcess[] = [];
after(() => {
    for (const child of children) {
        child.kill("SIGKILL");
    }
});

describe("DaemonLease: one daemon per workspace across extension hosts", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tokenlight-lease-"));

    it("recognises a daemon by its command line, and nothing else", () => {
        const daemon = fakeDaemon();
        children.push(daemon);
        assert.ok(daemon.pid !== undefined && isAlive(daemon.pid));
        if (process.platform === "linux") {
            assert.equal(isDaemon(daemon.pid), true);
            assert.equal(isDaemon(process.pid), false, "the test runner is no daemon");
        }
    });

    it("a second host's claim stops the first host's daemon; the first sees it was taken over", async () => {
        const first = new DaemonLease(dir, 1001);
        const second = new DaemonLease(dir, 1002);
        const old = fakeDaemon();
        const fresh = fakeDaemon();
        children.push(old, fresh);
        assert.equal(first.claim(old.pid ?? -1), undefined, "nothing to stop at the first claim");
        assert.equal(first.takenOver(), false);
        assert.equal(second.claim(fresh.pid ?? -1), old.pid);
        assert.equal(await exited(old), true, "the old daemon was stopped");
        assert.equal(isAlive(fresh.pid ?? -1), true, "the new one runs");
        assert.equal(first.takenOver(), true);
        assert.equal(second.takenOver(), false);
        assert.deepEqual(second.read(), { hostPid: 1002, daemonPid: fresh.pid });
        // The first host stopping now must not remove the second's lease.
        first.release(old.pid);
        assert.deepEqual(second.read(), { hostPid: 1002, daemonPid: fresh.pid });
        second.release(fresh.pid);
        assert.equal(second.read(), undefined);
    });

    it("never signals a pid that is no daemon (a stale lease after a reboot)", () => {
        const lease = new DaemonLease(dir, 2001);
        fs.writeFileSync(path.join(dir, "daemon-lease.json"), JSON.stringify({ hostPid: 1, daemonPid: process.pid }));
        if (process.platform === "linux") {
            assert.equal(lease.claim(999_999_999), undefined);
        }
        assert.equal(isAlive(process.pid), true);
    });

    it("treats a torn lease file as no lease", () => {
        fs.writeFileSync(path.join(dir, "daemon-lease.json"), "{not json");
        assert.equal(new DaemonLease(dir, 3001).read(), undefined);
    });
});
