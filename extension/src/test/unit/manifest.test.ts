import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { COMMAND_IDS } from "../../commandIds";
import { OPTION_CHOICES } from "../../generated/options";
import { Settings, type ConfigReader, type Inspected } from "../../settings";

// out/test/unit -> extension/package.json
const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, "..", "..", "..", "package.json"), "utf8")) as {
    engines: { vscode: string };
    main: string;
    activationEvents: string[];
    dependencies: Record<string, string>;
    contributes: {
        commands: { command: string; title: string; category: string }[];
        configuration: { properties: Record<string, { description?: string; markdownDescription?: string }> };
        keybindings: { command: string; key: string; when: string }[];
    };
};

describe("package.json", () => {
    it("contributes exactly the commands the extension registers, in the Tokenlight category", () => {
        const contributed = manifest.contributes.commands.map((c) => c.command).sort();
        assert.deepEqual(contributed, Object.values(COMMAND_IDS).sort());
        for (const c of manifest.contributes.commands) {
            assert.equal(c.category, "Tokenlight", c.command);
        }
    });
    it("documents every setting the Settings class reads", () => {
        const read: string[] = [];
        const recorder: ConfigReader = {
            get<T>(key: string): T | undefined {
                read.push(key);
                return undefined;
            },
            inspect<T>(key: string): Inspected<T> | undefined {
                read.push(key);
                return undefined;
            },
        };
        const settings = new Settings(() => recorder);
        for (const name of Object.getOwnPropertyNames(Settings.prototype)) {
            const descriptor = Object.getOwnPropertyDescriptor(Settings.prototype, name);
            if (descriptor?.get !== undefined) {
                descriptor.get.call(settings);
            }
        }
        assert.ok(read.length >= 13, `read ${read.length} settings`);
        const properties = manifest.contributes.configuration.properties;
        for (const key of new Set(read)) {
            const property = properties[`tokenlight.${key}`];
            assert.ok(property !== undefined, `tokenlight.${key} is contributed`);
            assert.ok(property.markdownDescription ?? property.description, `tokenlight.${key} is described`);
        }
    });
    it("targets an editor no newer than code-server 4.139.1 (VS Code 1.139) and ships the bundle", () => {
        const [major, minor] = manifest.engines.vscode.replace(/^\^/, "").split(".").map(Number);
        assert.ok(major === 1 && minor <= 139, manifest.engines.vscode);
        assert.equal(manifest.main, "./dist/extension.js");
    });
    it("activates after start-up (for the status bar item), never eagerly with `*`", () => {
        assert.deepEqual(manifest.activationEvents, ["onStartupFinished"]);
    });
    it("pins every runtime dependency to an exact version (they are bundled)", () => {
        for (const [name, version] of Object.entries(manifest.dependencies)) {
            assert.match(version, /^\d+\.\d+\.\d+$/, `${name}@${version}`);
        }
        assert.ok("ws" in manifest.dependencies, "ws: the WebSocket transport (Node 20 has no global WebSocket)");
    });
    it("suggests the built-in step functions and accepts other registered ids, never module:function", () => {
        const property = manifest.contributes.configuration.properties["tokenlight.stepFunction"] as {
            enum?: string[];
            examples?: string[];
            pattern?: string;
            markdownDescription?: string;
        };
        assert.equal(property.enum, undefined, "not narrowed to the built-ins");
        assert.deepEqual(property.examples, [...OPTION_CHOICES.stepFunction]);
        const pattern = new RegExp(property.pattern ?? "");
        assert.ok(pattern.test("margin") && pattern.test("logit"));
        assert.ok(!pattern.test("mypackage.steps:margin"), "module:function is the CLI's only");
        for (const id of OPTION_CHOICES.stepFunction) {
            assert.ok(property.markdownDescription?.includes(`\`${id}\``), `${id} is described`);
        }
    });
    it("binds Attribute Continuation to a key in the editor", () => {
        const binding = manifest.contributes.keybindings.find((k) => k.command === COMMAND_IDS.attributeContinuation);
        assert.ok(binding !== undefined && binding.when.includes("editorTextFocus"));
    });
});
