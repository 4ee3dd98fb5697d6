/**
 * One daemon per workspace, however many extension hosts come and go. code-server starts a new
 * extension host for every browser connection (a reload, a reconnect) and keeps the old one alive
 * for its reconnection grace time, daemon and all: each reload used to leave another ~500 MB daemon
 * behind. The lease is a small file in the workspace's storage folder naming the extension host
 * that owns the daemon and the daemon's pid. A host that starts a daemon claims the lease and stops
 * the previous owner's daemon; the previous host, seeing its daemon end, finds the lease is no longer
 * its own and does not restart it (client.ts).
 *
 * Node only (no `vscode`): unit-tested against real processes.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface Lease {
    /** The extension host (its pid) that owns the daemon. */
    hostPid: number;
    /** The daemon process it spawned. */
    daemonPid: number;
}

const FILE = "daemon-lease.json";

/** Whether `pid` is a running process (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (error) {
        return (error as NodeJS.ErrnoException).code === "EPERM";
    }
}

/**
 * Whether `pid` looks like a Tokenlight daemon: its command line runs `-m tokenlight serve`. Where
 * /proc is missing (macOS, Windows) the pid alone is trusted: the lease was written when it was ours.
 */
export function isDaemon(pid: number): boolean {
    let cmdline: string;
    try {
        cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
        return process.platform !== "linux" && isAlive(pid);
    }
    const argv = cmdline.split("\0");
    const i = argv.indexOf("-m");
    return i >= 0 && argv[i + 1] === "tokenlight" && argv[i + 2] === "serve";
}

export class DaemonLease {
    constructor(
        private readonly dir: string,
        private readonly hostPid: number = process.pid,
    ) {}

    private get file(): string {
        return path.join(this.dir, FILE);
    }

    read(): Lease | undefined {
        try {
            const parsed = JSON.parse(fs.readFileSync(this.file, "utf8")) as Partial<Lease>;
            if (typeof parsed.hostPid === "number" && typeof parsed.daemonPid === "number") {
                return { hostPid: parsed.hostPid, daemonPid: parsed.daemonPid };
            }
        } catch {
            // no lease yet, or a torn one: nobody else owns the daemon
        }
        return undefined;
    }

    /**
     * Take the lease for `daemonPid`, which this host just spawned. Another host's daemon that
     * still runs is sent SIGTERM (it shuts down cleanly). Returns the pid stopped, if any.
     */
    claim(daemonPid: number): number | undefined {
        const previous = this.read();
        let stopped: number | undefined;
        if (previous !== undefined && previous.daemonPid !== daemonPid && isDaemon(previous.daemonPid)) {
            try {
                process.kill(previous.daemonPid, "SIGTERM");
                stopped = previous.daemonPid;
            } catch {
                // it ended meanwhile
            }
        }
        fs.mkdirSync(this.dir, { recursive: true });
        // Written whole then renamed: another host never reads half a lease.
        const tmp = `${this.file}.${this.hostPid}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify({ hostPid: this.hostPid, daemonPid } satisfies Lease));
        fs.renameSync(tmp, this.file);
        return stopped;
    }

    /** Whether another extension host has taken the lease since this one claimed it. */
    takenOver(): boolean {
        const lease = this.read();
        return lease !== undefined && lease.hostPid !== this.hostPid;
    }

    /** Give the lease back (this host stopped its daemon), unless another host holds it now. */
    release(daemonPid: number | undefined): void {
        const lease = this.read();
        if (lease !== undefined && lease.hostPid === this.hostPid && (daemonPid === undefined || lease.daemonPid === daemonPid)) {
            fs.rmSync(this.file, { force: true });
        }
    }
}
