/**
 * A cancellable progress notification tied to one request's LSP work-done progress: the request
 * carries a fresh `workDoneToken`, the daemon's `$/progress` reports for it move the notification,
 * and Cancel cancels the request token (the client then sends `$/cancelRequest`) and tells the
 * daemon through `window/workDoneProgress/cancel`.
 */
import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import { WorkDoneProgress, WorkDoneProgressCancelNotification, type LanguageClient } from "vscode-languageclient/node";

export async function withRequestProgress<R>(
    client: LanguageClient,
    title: string,
    send: (workDoneToken: string, token: vscode.CancellationToken) => Promise<R>,
): Promise<R> {
    return vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title, cancellable: true },
        async (progress, cancellation) => {
            const workDoneToken = `tokenlight-${randomUUID()}`;
            let reported = 0;
            const subscription = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
                if (value.kind === "end") {
                    return;
                }
                const percentage = value.percentage;
                // withProgress wants increments; LSP reports absolute percentages.
                const increment = percentage === undefined ? undefined : Math.max(0, percentage - reported);
                if (percentage !== undefined) {
                    reported = Math.max(reported, percentage);
                }
                const message = value.kind === "begin" ? (value.message ?? value.title) : value.message;
                progress.report({ message, increment });
            });
            const onCancel = cancellation.onCancellationRequested(() => {
                void client
                    .sendNotification(WorkDoneProgressCancelNotification.type, { token: workDoneToken })
                    .catch(() => undefined);
            });
            try {
                return await send(workDoneToken, cancellation);
            } finally {
                onCancel.dispose();
                subscription.dispose();
            }
        },
    );
}
