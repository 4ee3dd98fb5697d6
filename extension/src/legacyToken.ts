/**
 * The old `tokenlight.server.token` setting: a token in a settings file can be read by anyone who
 * gets the file, and one in a workspace's `.vscode/settings.json` came from the workspace. It is no
 * longer read. A user's value is offered a move into secret storage; a workspace's is reported and
 * ignored.
 */
import * as vscode from "vscode";
import { SECRET_KEY } from "./remoteToken";
import { LEGACY_TOKEN_KEY, SECTION, type Settings } from "./settings";

const MOVE = "Move to Secret Storage";

export async function reportLegacyToken(settings: Settings, secrets: vscode.SecretStorage): Promise<void> {
    const legacy = settings.legacyToken();
    if (legacy.inWorkspace) {
        void vscode.window.showWarningMessage(
            "Tokenlight: this workspace's settings set tokenlight.server.token, which Tokenlight ignores: a " +
                "remote token lives in VS Code's secret storage (run Tokenlight: Set Remote Token).",
        );
    }
    if (legacy.user === undefined) {
        return;
    }
    const choice = await vscode.window.showWarningMessage(
        "Tokenlight: tokenlight.server.token in your settings is no longer used: settings files are not the " +
            "place for a token. Move it to VS Code's secret storage (and out of the settings file)?",
        MOVE,
    );
    if (choice === MOVE) {
        await secrets.store(SECRET_KEY, legacy.user);
        await vscode.workspace.getConfiguration(SECTION).update(LEGACY_TOKEN_KEY, undefined, vscode.ConfigurationTarget.Global);
        void vscode.window.showInformationMessage("Tokenlight: the remote token is now in VS Code's secret storage.");
    }
}
