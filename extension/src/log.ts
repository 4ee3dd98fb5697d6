/**
 * One output channel, "Tokenlight", for the extension's own log and the daemon's stderr (the
 * language client writes the daemon's stderr and its trace there). `Tokenlight: Show Daemon Log`
 * opens it; error notifications offer it too.
 */
import * as vscode from "vscode";

export class Log implements vscode.Disposable {
    readonly channel: vscode.LogOutputChannel;

    constructor() {
        this.channel = vscode.window.createOutputChannel("Tokenlight", { log: true });
    }

    info(message: string): void {
        this.channel.info(message);
    }

    warn(message: string): void {
        this.channel.warn(message);
    }

    error(message: string, error?: unknown): void {
        this.channel.error(error === undefined ? message : `${message}: ${describeError(error)}`);
    }

    show(): void {
        this.channel.show(true);
    }

    /** An error notification with a button that opens the log. */
    async notifyError(message: string): Promise<void> {
        this.error(message);
        const choice = await vscode.window.showErrorMessage(message, "Show Log");
        if (choice === "Show Log") {
            this.show();
        }
    }

    dispose(): void {
        this.channel.dispose();
    }
}

export function describeError(error: unknown): string {
    if (error instanceof Error) {
        return error.message;
    }
    return typeof error === "string" ? error : JSON.stringify(error);
}
