import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    diagnoseStderr,
    expandPath,
    findInterpreter,
    findRepoRoot,
    insideFolders,
    installCommand,
    launchProblem,
    parsePreflight,
    venvCandidates,
    type InterpreterLookup,
} from "../../python";

function lookup(overrides: Partial<InterpreterLookup>): InterpreterLookup {
    return {
        setting: undefined,
        activeEnvironment: () => Promise.resolve(undefined),
        workspaceFolders: ["/ws/proj"],
        extensionPath: "/repo/extension",
        exists: () => false,
        platform: "linux",
        home: "/home/u",
        trusted: true,
        ...overrides,
    };
}

describe("findInterpreter: the numbered order", () => {
    it("1. the setting wins over everything, with ${workspaceFolder} and ~ expanded", async () => {
        const found = await findInterpreter(
            lookup({
                setting: "${workspaceFolder}/env/bin/python",
                activeEnvironment: () => Promise.resolve("/usr/bin/python3.12"),
                exists: () => true,
            }),
        );
        assert.deepEqual(found, { path: "/ws/proj/env/bin/python", source: "setting" });
        assert.equal((await findInterpreter(lookup({ setting: "~/py/bin/python" }))).path, "/home/u/py/bin/python");
    });
    it("2. then the Python extension's selected interpreter", async () => {
        const found = await findInterpreter(
            lookup({ activeEnvironment: () => Promise.resolve("/opt/conda/bin/python"), exists: () => true }),
        );
        assert.deepEqual(found, { path: "/opt/conda/bin/python", source: "pythonExtension" });
    });
    it("2. a failing Python extension is skipped, not fatal", async () => {
        const found = await findInterpreter(lookup({ activeEnvironment: () => Promise.reject(new Error("boom")) }));
        assert.equal(found.source, "default");
    });
    it("3. then a workspace .venv, before the one beside the extension", async () => {
        const both = (p: string): boolean => p === "/ws/proj/.venv/bin/python" || p === "/repo/.venv/bin/python";
        assert.deepEqual(await findInterpreter(lookup({ exists: both })), {
            path: "/ws/proj/.venv/bin/python",
            source: "venv",
        });
        const repoOnly = (p: string): boolean => p === "/repo/.venv/bin/python";
        assert.deepEqual(await findInterpreter(lookup({ exists: repoOnly })), {
            path: "/repo/.venv/bin/python",
            source: "venv",
        });
    });
    it("4. else python3 (python on Windows)", async () => {
        assert.deepEqual(await findInterpreter(lookup({})), { path: "python3", source: "default" });
        assert.equal((await findInterpreter(lookup({ platform: "win32", extensionPath: "C:\\r\\extension" }))).path, "python");
    });
});

describe("paths", () => {
    it("lists .venv candidates per platform without duplicates", () => {
        assert.deepEqual(venvCandidates(["/repo"], "/repo/extension", "linux"), ["/repo/.venv/bin/python"]);
        assert.deepEqual(venvCandidates(["C:\\w"], "C:\\r\\extension", "win32"), [
            "C:\\w\\.venv\\Scripts\\python.exe",
            "C:\\r\\.venv\\Scripts\\python.exe",
        ]);
    });
    it("expands ${userHome} and leaves other text alone", () => {
        assert.equal(expandPath("${userHome}/x", undefined, "/h"), "/h/x");
        assert.equal(expandPath("/abs/~x", undefined, "/h"), "/abs/~x");
    });
    it("recognises a repository checkout beside the extension", () => {
        const files = new Set(["/repo/pyproject.toml", "/repo/daemon/tokenlight/__init__.py"]);
        assert.equal(findRepoRoot("/repo/extension", (p) => files.has(p)), "/repo");
        assert.equal(findRepoRoot("/elsewhere/ext", (p) => files.has(p)), undefined);
    });
});

describe("what the user is told", () => {
    const interp = { path: "/ws/.venv/bin/python", source: "venv" as const };
    it("names the install command: editable from a checkout, else from the index", () => {
        assert.equal(installCommand("/p/python", "/repo"), '/p/python -m pip install -e "/repo[server]"');
        assert.equal(installCommand("python3", undefined), 'python3 -m pip install "tokenlight[server]"');
        assert.equal(installCommand("/my env/python", undefined), '"/my env/python" -m pip install "tokenlight[server]"');
    });
    it("parses the preflight report", () => {
        assert.deepEqual(parsePreflight('noise\n{"tokenlight": true, "pygls": false, "version": [3, 12]}\n'), {
            tokenlight: true,
            pygls: false,
            version: [3, 12],
        });
        assert.equal(parsePreflight("Traceback ..."), undefined);
        assert.equal(parsePreflight('{"tokenlight": 1}'), undefined);
    });
    it("says 'No module named tokenlight' with the command that installs it", () => {
        const message = launchProblem(
            interp,
            { kind: "ran", report: { tokenlight: false, pygls: true, version: [3, 12] } },
            "/repo",
        );
        assert.match(message ?? "", /No module named tokenlight/);
        assert.match(message ?? "", /\/ws\/\.venv\/bin\/python -m pip install -e "\/repo\[server\]"/);
    });
    it("asks for the server extra when pygls is missing", () => {
        const message = launchProblem(interp, { kind: "ran", report: { tokenlight: true, pygls: false, version: [3, 12] } }, undefined);
        assert.match(message ?? "", /pygls/);
        assert.match(message ?? "", /tokenlight\[server\]/);
    });
    it("says nothing when the interpreter can run the daemon", () => {
        assert.equal(launchProblem(interp, { kind: "ran", report: { tokenlight: true, pygls: true, version: [3, 12] } }, undefined), undefined);
    });
    it("explains a missing interpreter and where it came from", () => {
        const message = launchProblem({ path: "python3", source: "default" }, { kind: "notFound" }, undefined);
        assert.match(message ?? "", /python3 \(from the default interpreter on PATH\): no such file/);
        assert.match(message ?? "", /tokenlight\.pythonPath/);
    });
    it("reads a missing module from the daemon's stderr", () => {
        const message = diagnoseStderr("/x/python: No module named tokenlight\n", interp, undefined);
        assert.match(message ?? "", /No module named tokenlight.*pip install "tokenlight\[server\]"/);
        assert.equal(diagnoseStderr("Segmentation fault", interp, undefined), undefined);
    });
});

describe("findInterpreter in an untrusted workspace: nothing the workspace provides is run", () => {
    const untrusted = { trusted: false, workspaceFolders: ["/ws/proj"] };
    it("passes over a pythonPath that points into the workspace, and says so", async () => {
        const found = await findInterpreter(lookup({ ...untrusted, setting: "${workspaceFolder}/.venv/bin/python" }));
        assert.deepEqual(found, { path: "python3", source: "default", skipped: ["/ws/proj/.venv/bin/python"] });
    });
    it("passes over the workspace's .venv and the Python extension's pick inside it, keeps the extension's own", async () => {
        const found = await findInterpreter(
            lookup({
                ...untrusted,
                activeEnvironment: () => Promise.resolve("/ws/proj/env/bin/python"),
                exists: () => true,
            }),
        );
        assert.deepEqual(found, {
            path: "/repo/.venv/bin/python",
            source: "venv",
            skipped: ["/ws/proj/env/bin/python", "/ws/proj/.venv/bin/python"],
        });
    });
    it("runs a user's interpreter outside the workspace as before", async () => {
        assert.deepEqual(await findInterpreter(lookup({ ...untrusted, setting: "/usr/bin/python3" })), {
            path: "/usr/bin/python3",
            source: "setting",
        });
    });
    it("in a trusted workspace, the workspace's own .venv is used", async () => {
        const found = await findInterpreter(lookup({ exists: (f) => f === "/ws/proj/.venv/bin/python" }));
        assert.deepEqual(found, { path: "/ws/proj/.venv/bin/python", source: "venv" });
    });
    it("insideFolders: by path segments, not string prefixes; .. resolved", () => {
        assert.equal(insideFolders("/ws/proj/a/python", ["/ws/proj"], "linux"), true);
        assert.equal(insideFolders("/ws/proj-other/python", ["/ws/proj"], "linux"), false);
        assert.equal(insideFolders("/ws/proj/../elsewhere/python", ["/ws/proj"], "linux"), false);
        assert.equal(insideFolders("C:\\ws\\p\\python.exe", ["C:\\ws\\p"], "win32"), true);
    });
});
