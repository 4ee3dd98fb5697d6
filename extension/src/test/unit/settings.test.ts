import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { affectsRendering, needsRestart, Settings, type ConfigReader } from "../../settings";

function settings(values: Record<string, unknown>): Settings {
    const reader: ConfigReader = {
        get<T>(key: string): T | undefined {
            return values[key] as T | undefined;
        },
    };
    return new Settings(() => reader);
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
        assert.equal(s.serverToken, undefined);
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
        assert.deepEqual(settings({}).attributeOptions(), { baseline: "zero", stepFunction: "logit" });
        assert.deepEqual(settings({ nSteps: 16, contrastToken: " b", stepFunction: "logit_diff" }).attributeOptions(), {
            baseline: "zero",
            stepFunction: "logit_diff",
            nSteps: 16,
            contrastToken: "b",
        });
    });
    it("sends the daemon only its own keys (never the token or extension-only settings)", () => {
        const d = settings({ model: "gpt2", "server.token": "secret", palette: "purpleGreen" }).daemonSettings();
        assert.deepEqual(Object.keys(d).sort(), [
            "baseline",
            "device",
            "dtype",
            "maxNewTokens",
            "method",
            "model",
            "nSteps",
            "stepFunction",
        ]);
        assert.equal(d.model, "gpt2");
        assert.equal(settings({}).daemonSettings().model, null);
    });
});

describe("which changes restart the daemon", () => {
    const affects = (...keys: string[]) => (section: string) => keys.includes(section);
    it("restarts for the interpreter and the remote address/token", () => {
        assert.equal(needsRestart(affects("tokenlight.pythonPath")), true);
        assert.equal(needsRestart(affects("tokenlight.server.address")), true);
        assert.equal(needsRestart(affects("tokenlight.server.token")), true);
    });
    it("does not restart for request defaults or colours", () => {
        assert.equal(needsRestart(affects("tokenlight.method", "tokenlight.palette")), false);
        assert.equal(affectsRendering(affects("tokenlight.palette")), true);
        assert.equal(affectsRendering(affects("tokenlight.method")), false);
    });
});
