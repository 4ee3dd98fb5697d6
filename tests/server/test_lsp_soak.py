"""A bounded soak on the shared daemon over real pipes: 500 mixed requests (hover, inlay hints,
status, small attributions, edits). Nothing fails, the daemon's memory stays within a bound, and the
hover latency is reported (printed, never asserted: the machines are shared and noisy)."""

from __future__ import annotations

import statistics
import time

from lsp_harness import lsp_range

SOURCE = "def area(width, height):\n    return width * height\n\n\ndef perimeter(width, height):\n"
ROUNDS = 100  # x 5 requests each
MEMORY_GROWTH_BOUND = 256 * 2**20


def test_five_hundred_mixed_requests(daemon, new_uri):
    uri = new_uri()
    daemon.open(uri, SOURCE)
    daemon.attribute(
        uri, lsp_range((0, 0), (0, 24)), target={"kind": "generate", "maxNewTokens": 2}, options={"nSteps": 4}
    )  # warm-up: model loaded, first result stored
    before = daemon.call("tokenlight/status", {})["memory"]
    hover_ms: list[float] = []
    requests = 0
    for i in range(ROUNDS):
        for character in (1, 5, 12):
            t0 = time.perf_counter()
            hover = daemon.hover(uri, 0, character)
            hover_ms.append((time.perf_counter() - t0) * 1000)
            assert hover is not None
            requests += 1
        assert daemon.inlay_hints(uri)
        status = daemon.call("tokenlight/status", {})
        assert status["busy"] is False
        requests += 2
        if i % 10 == 9:  # a small attribution every 10 rounds, alternating selections and targets
            end = 24 if (i // 10) % 2 == 0 else 14
            res = daemon.attribute(
                uri,
                lsp_range((0, 0), (0, end)),
                target={"kind": "generate", "maxNewTokens": 1 + (i // 10) % 3},
                options={"nSteps": 4},
            )
            assert res["targetTokens"]
    after = daemon.call("tokenlight/status", {})["memory"]
    hover_ms.sort()
    p95 = hover_ms[int(0.95 * len(hover_ms)) - 1]
    print(
        f"\nsoak: {requests} requests (+10 attributions); hover p50 {statistics.median(hover_ms):.1f} ms, "
        f"p95 {p95:.1f} ms; daemon memory {before / 2**20:.0f} -> {after / 2**20:.0f} MiB"
    )
    assert requests >= 500
    assert after - before < MEMORY_GROWTH_BOUND, (before, after)
