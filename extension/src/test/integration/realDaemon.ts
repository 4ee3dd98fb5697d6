/**
 * What the protocol integration tests share: where the repository's daemon is, how to start it with
 * a private results cache, the settings they send, and the answers VS Code gives to the daemon's
 * own requests. Not a test file itself.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    ConfigurationRequest,
    InlayHintRefreshRequest,
    LogMessageNotification,
    PublishDiagnosticsNotification,
    RegistrationRequest,
    ShowMessageNotification,
    WorkDoneProgressCreateRequest,
    type ProtocolConnection,
} from "vscode-languageserver-protocol/node";
import type * as proto from "../../protocol";

// out/test/integration -> extension -> repository root
export const REPO = path.resolve(__dirname, "..", "..", "..", "..");
export const PYTHON = path.join(REPO, ".venv", "bin", "python");
/** `describe`'s skip option: false where the daemon can run, else why not. */
export const SKIP = fs.existsSync(PYTHON) ? false : `no ${PYTHON}: run \`make setup\` in ${REPO} to test against the real daemon`;

/** `tokenlight serve ARGS` from the repository's .venv, with a fresh private results cache (a result
 * cached by another run would not exercise the engine); remove `cacheDir` when done. */
export function spawnDaemon(
    args: string[],
    env: NodeJS.ProcessEnv = {},
): { child: ChildProcessWithoutNullStreams; cacheDir: string } {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "tokenlight-it-"));
    const child = spawn(PYTHON, ["-m", "tokenlight", "serve", ...args, "--cache-dir", cacheDir], {
        cwd: REPO,
        env: { ...process.env, MPLBACKEND: "Agg", PYTHONUNBUFFERED: "1", ...env },
    });
    return { child, cacheDir };
}

/** The daemon settings the tests send: CPU, Integrated Gradients, short continuations. */
export function testSettings(maxNewTokens: number): proto.DaemonSettings {
    return {
        model: null,
        device: "cpu",
        dtype: "auto",
        method: "integrated_gradients",
        nSteps: null,
        perLayer: null,
        baseline: "zero",
        context: "selection",
        granularity: "token",
        chat: false,
        stepFunction: "logit",
        maxNewTokens,
        compileLayers: false,
    };
}

/** Answer the daemon's requests to its client as VS Code would; `onShowMessage` sees its messages. */
export function answerAsVsCode(connection: ProtocolConnection, onShowMessage: (message: string) => void = () => undefined): void {
    connection.onRequest(InlayHintRefreshRequest.type, () => null);
    connection.onRequest(WorkDoneProgressCreateRequest.type, () => null);
    connection.onRequest(RegistrationRequest.type, () => null);
    connection.onRequest(ConfigurationRequest.type, (params) => params.items.map(() => null));
    connection.onNotification(PublishDiagnosticsNotification.type, () => undefined);
    connection.onNotification(LogMessageNotification.type, () => undefined);
    connection.onNotification(ShowMessageNotification.type, (params) => onShowMessage(params.message));
}
