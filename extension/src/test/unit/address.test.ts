import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseServerAddress } from "../../address";

describe("parseServerAddress", () => {
    it("parses tcp://host:port and a bare host:port", () => {
        assert.deepEqual(parseServerAddress("tcp://127.0.0.1:8765"), { kind: "tcp", host: "127.0.0.1", port: 8765 });
        assert.deepEqual(parseServerAddress(" gpu-box:9000 "), { kind: "tcp", host: "gpu-box", port: 9000 });
        assert.deepEqual(parseServerAddress("tcp://[::1]:8765"), { kind: "tcp", host: "::1", port: 8765 });
    });
    it("recognises WebSocket URLs", () => {
        assert.deepEqual(parseServerAddress("ws://host:8765"), { kind: "ws", url: "ws://host:8765/" });
        assert.equal(parseServerAddress("wss://host/lsp").kind, "ws");
    });
    it("rejects a missing port, a bad port and other schemes with a reason", () => {
        for (const bad of ["tcp://host", "tcp://host:0", "tcp://host:70000", "http://host:80", "::::"]) {
            const parsed = parseServerAddress(bad);
            assert.equal(parsed.kind, "invalid", bad);
        }
        const parsed = parseServerAddress("http://host:80");
        assert.ok(parsed.kind === "invalid" && parsed.reason.includes("tcp://"));
    });
});
