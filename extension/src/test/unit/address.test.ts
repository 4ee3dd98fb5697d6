import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseServerAddress, remoteFailureMessage } from "../../address";

describe("parseServerAddress", () => {
    it("parses tcp://host:port and a bare host:port", () => {
        assert.deepEqual(parseServerAddress("tcp://127.0.0.1:8765"), { kind: "tcp", host: "127.0.0.1", port: 8765 });
        assert.deepEqual(parseServerAddress(" gpu-box:9000 "), { kind: "tcp", host: "gpu-box", port: 9000 });
        assert.deepEqual(parseServerAddress("tcp://[::1]:8765"), { kind: "tcp", host: "::1", port: 8765 });
    });
    it("parses ws:// and wss:// URLs, keeping the path", () => {
        assert.deepEqual(parseServerAddress("ws://host:8765"), { kind: "ws", url: "ws://host:8765/" });
        assert.deepEqual(parseServerAddress(" WS://127.0.0.1:8765 "), { kind: "ws", url: "ws://127.0.0.1:8765/" });
        assert.deepEqual(parseServerAddress("wss://gpu.example.org/lsp"), { kind: "ws", url: "wss://gpu.example.org/lsp" });
        assert.deepEqual(parseServerAddress("ws://[::1]:9000"), { kind: "ws", url: "ws://[::1]:9000/" });
    });
    it("rejects WebSocket URLs without a host or with a bad port", () => {
        for (const bad of ["ws://", "ws://:8765", "wss://host:99999", "ws://host:port"]) {
            const parsed = parseServerAddress(bad);
            assert.equal(parsed.kind, "invalid", bad);
            assert.ok(parsed.kind === "invalid" && parsed.reason.includes("ws://"), bad);
        }
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

describe("remoteFailureMessage", () => {
    const err = (code: string | number, message = "boom"): Error => Object.assign(new Error(message), { code });
    it("a refused token names the token setting and where the daemon's token comes from", () => {
        const message = remoteFailureMessage("ws://gpu:8765", err(-32001, "this daemon needs a token"));
        assert.match(message, /ws:\/\/gpu:8765 refused the token/);
        assert.match(message, /Tokenlight: Set Remote Token/);
        assert.match(message, /--token \/ TOKENLIGHT_TOKEN/);
    });
    it("a refused connection says how to start the daemon for the address's scheme", () => {
        assert.match(remoteFailureMessage("ws://127.0.0.1:1", err("ECONNREFUSED")), /tokenlight serve --ws HOST:PORT/);
        assert.match(remoteFailureMessage("tcp://127.0.0.1:1", err("ECONNREFUSED")), /tokenlight serve --tcp HOST:PORT/);
        assert.match(remoteFailureMessage("ws://127.0.0.1:1", err("ECONNRESET")), /nothing is listening at .*\(connection reset\)/);
    });
    it("an unknown host, a failed handshake and a closed connection each say what to check", () => {
        assert.match(remoteFailureMessage("ws://nohost:1", err("ENOTFOUND", "getaddrinfo ENOTFOUND nohost")), /Check the host/);
        assert.match(remoteFailureMessage("ws://h:1", err("EHANDSHAKE", "Unexpected server response: 404")), /started with --ws/);
        assert.match(remoteFailureMessage("ws://h:1", err(-32097, "Pending response rejected")), /closed the connection before answering: check its log/);
        assert.match(remoteFailureMessage("ws://h:1", new Error("odd")), /could not connect to the daemon at ws:\/\/h:1: odd/);
    });
});
