/**
 * When a daemon that stopped by itself is started again: the language client's own policy, kept
 * (more than {@link MAX_RESTARTS} crashes within {@link RESTART_WINDOW_MS} stop the restarts), as a
 * plain class with no `vscode` import so that it is tested with a clock of the test's own.
 */

/** More crashes than this within the window stop restarts. */
export const MAX_RESTARTS = 4;
export const RESTART_WINDOW_MS = 3 * 60 * 1000;

export interface CrashVerdict {
    /** Start the daemon again (true), or leave it stopped and say so (false). */
    restart: boolean;
    /** Crashes within the window, this one included. */
    crashes: number;
}

export class CrashPolicy {
    private crashes: number[] = [];

    constructor(private readonly now: () => number = Date.now) {}

    /** An explicit (re)start by the user or a setting begins a fresh count. */
    reset(): void {
        this.crashes = [];
    }

    /** Record a crash now and say whether to restart. */
    crashed(): CrashVerdict {
        const now = this.now();
        this.crashes = this.crashes.filter((t) => now - t < RESTART_WINDOW_MS);
        this.crashes.push(now);
        return { restart: this.crashes.length <= MAX_RESTARTS, crashes: this.crashes.length };
    }
}
