import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import {
    affectsRendering,
    needsRestart,
    settingsTarget,
    Settings,
    USER_ONLY_KEYS,
    type ConfigReader,
    type Inspected,
} from "../../settings";

/** A reader over user values and workspace values, merged the way VS Code merges them. */
function layered(user: Record<string, unknown>, workspace: Record<string, unknown> = {}): Settings {
    const reader: ConfigReader = {
        get<T>(key: string): T | undefined {
            return (key in workspace ? workspace[key] : user[key]) as T | undefined;
        },
        inspect<T>(key: string): Inspected<T> | undefined {
            return { globalValue: user[key] as T | undefined, workspaceValue: workspace[key] as T | undefined };
        },
    };
    return new Settings(() => reader);
}

function settings(values: Record<string, unknown>): Settings {
    return layered(values);
}

describe("Settings", () => {
    it("gives the documented defaults when nothing is set", () => {
        const s = settings({});
        assert.equal(s.model, undefined);
        assert.equal(s.method, "integrated_gradients");
        assert.equal(s.nSteps, undefined);
        assert.equal(s.maxNewTokens, 8);
        assert.equal(s.baseline, "zero");
        assert.equal(s.stepFunction, "logit");
        assert.equal(s.device, "auto");
        assert.equal(s.normalization, "target");
        assert.equal(s.normalizationScale, 1.0);
        assert.equal(s.palette, "blueOrange");
        assert.equal(s.pythonPath, undefined);
        assert.equal(s.serverAddress, undefined);
    });
    it("takes any step function id the daemon may have registered, not only the built-ins", () => {
        assert.equal(settings({ stepFunction: "margin" }).stepFunction, "margin");
        assert.equal(settings({ stepFunction: "margin" }).attributeOptions().stepFunction, "margin");
        assert.equal(settings({ stepFunction: "margin" }).daemonSettings().stepFunction, "margin");
        assert.equal(settings({ stepFunction: "  " }).stepFunction, "logit");
        assert.equal(settings({ stepFunction: 3 }).stepFunction, "logit");
    });
    it("reads values live (every getter asks the reader again)", () => {
        const values: Record<string, unknown> = { method: "saliency" };
        const s = settings(values);
        assert.equal(s.method, "saliency");
        values.method = "occlusion";
        assert.equal(s.method, "occlusion");
    });
    it("rejects values of the wrong type or range instead of trusting a cast", () => {
        const s = settings({
            nSteps: -3,
            maxNewTokens: "many",
            normalization: "weird",
            palette: "rainbow",
            normalizationScale: -1,
            model: "   ",
            pythonPath: 42,
        });
        assert.equal(s.nSteps, undefined);
        assert.equal(s.maxNewTokens, 8);
        assert.equal(s.normalization, "target");
        assert.equal(s.palette, "blueOrange");
        assert.equal(s.normalizationScale, 1.0);
        assert.equal(s.model, undefined);
        assert.equal(s.pythonPath, undefined);
    });
    it("builds request options, leaving unset ones out", () => {
        const spans = { context: "selection", granularity: "token" };
        assert.deepEqual(settings({}).attributeOptions(), { baseline: "zero", stepFunction: "logit", ...spans });
        assert.deepEqual(settings({ nSteps: 16, contrastToken: " b", stepFunction: "logit_diff" }).attributeOptions(), {
            baseline: "zero",
            stepFunction: "logit_diff",
            ...spans,
            nSteps: 16,
            contrastToken: "b",
        });
        assert.deepEqual(
            settings({ context: "document", granularity: "symbol" }).attributeOptions(),
            { baseline: "zero", stepFunction: "logit", context: "document", granularity: "symbol" },
        );
        assert.equal(settings({ granularity: "paragraph" }).granularity, "token");
        assert.deepEqual(settings({ chat: true, granularity: "turn" }).attributeOptions(), {
            baseline: "zero",
            stepFunction: "logit",
            context: "selection",
            granularity: "turn",
            chat: true,
        });
    });
    it("sends the daemon only its own keys (never the token or extension-only settings)", () => {
        const d = settings({ model: "gpt2", "server.token": "secret", palette: "purpleGreen" }).daemonSettings();
        assert.deepEqual(Object.keys(d).sort(), [
            "baseline",
            "chat",
            "compileLayers",
            "context",
            "device",
            "dtype",
            "granularity",
            "maxNewTokens",
            "method",
            "model",
            "nSteps",
            "perLayer",
            "stepFunction",
        ]);
        assert.equal(d.model, "gpt2");
        assert.equal(d.perLayer, null);
        assert.equal(settings({ perLayer: -1 }).daemonSettings().perLayer, -1); // negative: from the end
        assert.equal(settings({ perLayer: 1.5 }).daemonSettings().perLayer, null);
        assert.equal(settings({}).daemonSettings().model, null);
        assert.equal(settings({}).daemonSettings().compileLayers, false);
        assert.equal(settings({ compileLayers: true }).daemonSettings().compileLayers, true);
        assert.equal(settings({ compileLayers: "yes" }).daemonSettings().compileLayers, false);
    });
});

describe("which changes restart the daemon", () => {
    const affects = (...keys: string[]) => (section: string) => keys.includes(section);
    it("restarts for the interpreter and the remote address/token", () => {
        assert.equal(needsRestart(affects("tokenlight.pythonPath")), true);
        assert.equal(needsRestart(affects("tokenlight.server.address")), true);
        assert.equal(needsRestart(affects("tokenlight.server.token")), false);
    });
    it("does not restart for request defaults or colours", () => {
        assert.equal(needsRestart(affects("tokenlight.method", "tokenlight.palette")), false);
        assert.equal(affectsRendering(affects("tokenlight.palette")), true);
        assert.equal(affectsRendering(affects("tokenlight.method")), false);
    });
});

describe("Settings a workspace must not choose", () => {
    it("reads pythonPath and server.address from the user's settings only", () => {
        const evil = { pythonPath: "/tmp/evil/python", "server.address": "tcp://evil.example:80" };
        const s = layered({}, evil);
        assert.equal(s.pythonPath, undefined);
        assert.equal(s.serverAddress, undefined);
        const mine = layered({ pythonPath: "/usr/bin/python3", "server.address": "tcp://127.0.0.1:8765" }, evil);
        assert.equal(mine.pythonPath, "/usr/bin/python3");
        assert.equal(mine.serverAddress, "tcp://127.0.0.1:8765");
    });
    it("other settings still follow the workspace", () => {
        assert.equal(layered({ method: "saliency" }, { method: "occlusion" }).method, "occlusion");
    });
    it("finds an old tokenlight.server.token setting, by where it is", () => {
        assert.deepEqual(layered({ "server.token": "t" }).legacyToken(), { user: "t", inWorkspace: false });
        assert.deepEqual(layered({}, { "server.token": "t" }).legacyToken(), { user: undefined, inWorkspace: true });
        assert.deepEqual(layered({}).legacyToken(), { user: undefined, inWorkspace: false });
    });
    it("package.json declares them machine-scoped, restricted in untrusted workspaces, and no token setting", () => {
        const manifest = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "..", "package.json"), "utf8")) as {
            contributes: { configuration: { properties: Record<string, { scope?: string } | undefined> } };
            capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] } };
        };
        const properties = manifest.contributes.configuration.properties;
        for (const key of USER_ONLY_KEYS) {
            assert.equal(properties[`tokenlight.${key}`]?.scope, "machine", key);
        }
        assert.equal(properties["tokenlight.server.token"], undefined);
        const untrusted = manifest.capabilities.untrustedWorkspaces;
        assert.equal(untrusted.supported, "limited");
        assert.deepEqual(
            [...untrusted.restrictedConfigurations].sort(),
            USER_ONLY_KEYS.map((key) => `tokenlight.${key}`).sort(),
        );
    });
});

describe("settingsTarget: where the palette writes", () => {
    it("the user settings, unless the user already set the key in the workspace", () => {
        assert.equal(settingsTarget(undefined), "user");
        assert.equal(settingsTarget({ globalValue: "saliency" }), "user");
        assert.equal(settingsTarget({ workspaceFolderValue: "saliency" }), "user");
        assert.equal(settingsTarget({ workspaceValue: "occlusion", globalValue: "saliency" }), "workspace");
    });
});
