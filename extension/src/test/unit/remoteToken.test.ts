import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseServerAddress } from "../../address";
import {
    applyTokenInput,
    findRemoteToken,
    loopbackPort,
    readTokenFile,
    runtimeDir,
    SECRET_KEY,
    tokenFilePath,
    type Machine,
    type Secrets,
} from "../../remoteToken";

/** A SecretStorage that keeps values in a map and records every call. */
class FakeSecrets implements Secrets {
    readonly values = new Map<string, string>();
    readonly calls: string[] = [];
    get(key: string): Thenable<string | undefined> {
        this.calls.push(`get ${key}`);
        return Promise.resolve(this.values.get(key));
    }
    store(key: string, value: string): Thenable<void> {
        this.calls.push(`store ${key}`);
        this.values.set(key, value);
        return Promise.resolve();
    }
    delete(key: string): Thenable<void> {
        this.calls.push(`delete ${key}`);
        this.values.delete(key);
        return Promise.resolve();
    }
}

function machine(files: Record<string, string>, overrides: Partial<Machine> = {}): Machine {
    return {
        env: { XDG_RUNTIME_DIR: "/run/user/1000" },
        platform: "linux",
        home: "/home/u",
        isDirectory: (folder) => folder === "/run/user/1000",
        readFile: (file) => files[file],
        isAlive: (pid) => pid === 4242,
        ...overrides,
    };
}

const FILE = "/run/user/1000/tokenlight/daemon-8765.json";
const saved = (fields: Record<string, unknown> = {}): string =>
    JSON.stringify({ format: "tokenlight-daemon", url: "ws://127.0.0.1:8765", token: "from-file", pid: 4242, ...fields });

describe("the daemon's token file: the same place as the daemon's auth.py", () => {
    it("is in $XDG_RUNTIME_DIR/tokenlight when that folder exists", () => {
        assert.equal(tokenFilePath(8765, machine({})), FILE);
    });
    it("is in $TOKENLIGHT_RUNTIME_DIR when that is set", () => {
        const env = { TOKENLIGHT_RUNTIME_DIR: "/home/u/.cache/tokenlight/runtime", XDG_RUNTIME_DIR: "/run/user/1000" };
        assert.equal(tokenFilePath(8765, machine({}, { env })), "/home/u/.cache/tokenlight/runtime/daemon-8765.json");
    });
    it("else in the user cache folder: XDG_CACHE_HOME, ~/.cache, ~/Library/Caches, LOCALAPPDATA", () => {
        const none = { isDirectory: () => false };
        assert.equal(runtimeDir(machine({}, { ...none, env: {} })), "/home/u/.cache/tokenlight/runtime");
        assert.equal(runtimeDir(machine({}, { ...none, env: { XDG_CACHE_HOME: "/c" } })), "/c/tokenlight/runtime");
        assert.equal(
            runtimeDir(machine({}, { ...none, env: {}, platform: "darwin" })),
            "/home/u/Library/Caches/tokenlight/runtime",
        );
        assert.equal(
            runtimeDir(machine({}, { ...none, env: { LOCALAPPDATA: "C:\\L" }, platform: "win32" })),
            "C:\\L\\tokenlight\\runtime",
        );
    });
    it("is believed only when it is well formed, for that port, and its daemon is alive", () => {
        assert.equal(readTokenFile(8765, machine({ [FILE]: saved() })), "from-file");
        assert.equal(readTokenFile(8765, machine({ [FILE]: saved({ pid: 1 }) })), undefined); // stale
        assert.equal(readTokenFile(8765, machine({ [FILE]: saved({ url: "ws://127.0.0.1:9999" }) })), undefined);
        assert.equal(readTokenFile(8765, machine({ [FILE]: saved({ format: "other" }) })), undefined);
        assert.equal(readTokenFile(8765, machine({ [FILE]: "{not json" })), undefined);
        assert.equal(readTokenFile(8765, machine({})), undefined);
    });
    it("is only looked for when the address is on this machine", () => {
        assert.equal(loopbackPort(parseServerAddress("ws://127.0.0.1:8765")), 8765);
        assert.equal(loopbackPort(parseServerAddress("tcp://localhost:8765")), 8765);
        assert.equal(loopbackPort(parseServerAddress("tcp://[::1]:8765")), 8765);
        assert.equal(loopbackPort(parseServerAddress("ws://gpu-box:8765")), undefined);
        assert.equal(loopbackPort(parseServerAddress("tcp://10.0.0.2:8765")), undefined);
    });
});

describe("findRemoteToken: the token file of a live local daemon, else SecretStorage, never settings", () => {
    it("uses the live daemon's file for a loopback address, without asking the secret store", async () => {
        const secrets = new FakeSecrets();
        await secrets.store(SECRET_KEY, "stored");
        secrets.calls.length = 0;
        const found = await findRemoteToken(parseServerAddress("ws://127.0.0.1:8765"), secrets, machine({ [FILE]: saved() }));
        assert.deepEqual(found, { token: "from-file", source: "tokenFile" });
        assert.deepEqual(secrets.calls, []);
    });
    it("uses the stored token for another host, or when there is no live file", async () => {
        const secrets = new FakeSecrets();
        await secrets.store(SECRET_KEY, "stored");
        const files = machine({ [FILE]: saved() });
        assert.deepEqual(await findRemoteToken(parseServerAddress("ws://gpu-box:8765"), secrets, files), {
            token: "stored",
            source: "secretStorage",
        });
        assert.deepEqual(await findRemoteToken(parseServerAddress("ws://127.0.0.1:8765"), secrets, machine({})), {
            token: "stored",
            source: "secretStorage",
        });
    });
    it("finds none when neither has one", async () => {
        assert.equal(await findRemoteToken(parseServerAddress("tcp://127.0.0.1:1"), new FakeSecrets(), machine({})), undefined);
    });
});

describe("Set Remote Token: what the user typed, into SecretStorage", () => {
    it("stores a token (trimmed), removes it on an empty line, leaves it on Escape", async () => {
        const secrets = new FakeSecrets();
        assert.equal(await applyTokenInput(secrets, "  abc  "), "stored");
        assert.equal(secrets.values.get(SECRET_KEY), "abc");
        assert.equal(await applyTokenInput(secrets, undefined), "unchanged");
        assert.equal(secrets.values.get(SECRET_KEY), "abc");
        assert.equal(await applyTokenInput(secrets, " "), "cleared");
        assert.equal(secrets.values.has(SECRET_KEY), false);
        assert.deepEqual(secrets.calls, [`store ${SECRET_KEY}`, `delete ${SECRET_KEY}`]);
    });
});
