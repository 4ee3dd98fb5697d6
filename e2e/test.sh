#!/usr/bin/env bash
# The browser end-to-end test (what `make test` runs last): set-up (idempotent), the .vsix if stale,
# then code-server in a fresh temporary profile on a free loopback port, a fresh results cache and a
# copy of the sample workspace, and Playwright (Debian's Chromium) driving it through
# e2e/tokenlight.e2e.test.mjs with node's test runner. Everything it started is stopped at the end.
#   TOKENLIGHT_README_SCREENSHOT=1 e2e/test.sh   also writes docs/screenshot.png
#   TOKENLIGHT_E2E_KEEP=1 e2e/test.sh            keeps the temporary profile (its path is printed)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$E2E/setup.sh"
ensure_vsix
[ -x "$VENV_PYTHON" ] || die "$VENV_PYTHON is missing: run 'make setup' first"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/tokenlight-e2e.XXXXXX")"
CS_PID=""
cleanup() {
    local rc=$?
    stop_tree "$CS_PID"
    if [ "${TOKENLIGHT_E2E_KEEP:-0}" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$ARTIFACTS"
cp -r "$WORKSPACE" "$TMP/workspace"
WORKSPACE="$TMP/workspace"
write_settings "$TMP/profile/user-data"
install_vsix "$TMP/profile"
PORT="$(free_port)"
export TOKENLIGHT_CACHE_DIR="$TMP/results-cache"
start_code_server "$PORT" "$TMP/profile"
log "code-server $PORT (pid $CS_PID), profile $TMP/profile"

set +e
(
    cd "$E2E"
    # Chromium too gets a HOME of its own (it writes crash reports and dconf state there).
    profile_env "$TMP/browser"
    TL_URL="http://127.0.0.1:$PORT" TL_WORKSPACE="$WORKSPACE" TL_ARTIFACTS="$ARTIFACTS" TL_ROOT="$ROOT" \
    TL_PYTHON="$VENV_PYTHON" TL_PROFILE="$TMP/profile" \
        "$NODE24" --test --test-reporter=spec --test-timeout=600000 tokenlight.e2e.test.mjs
)
rc=$?
set -e
# Copy the logs next to the screenshots, then stop code-server (and with it the extension host and
# the daemon) before the runner's summary is the last thing printed.
cp "$TMP/profile/code-server.log" "$ARTIFACTS/code-server.log" 2>/dev/null || true
find "$TMP/profile/user-data/logs" -name '*Tokenlight*.log' -exec cp {} "$ARTIFACTS/" \; 2>/dev/null || true
exit "$rc"
