#!/usr/bin/env bash
# `make run`: Tokenlight in a real VS Code, in a profile of its own (never the user's).
#  - a desktop `code` on PATH: the fresh .vsix is installed into e2e/.cache/desktop/ (its own
#    user-data and extensions dirs) and the sample workspace opens in it;
#  - otherwise code-server on 127.0.0.1:${TOKENLIGHT_PORT:-8917} (auth off only because it binds
#    loopback), profile in e2e/.cache/code-server-profile/, and the URL to open is printed.
# The sample workspace is a copy of e2e/workspace/ in e2e/.cache/workspace/ (edits stay out of git).
# Ctrl+C stops everything it started. TOKENLIGHT_EDITOR=code-server forces code-server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="${TOKENLIGHT_PORT:-8917}"
EDITOR_KIND="${TOKENLIGHT_EDITOR:-auto}"
if [ "$EDITOR_KIND" = auto ]; then
    # A `code` that is a remote CLI (the terminal of code-server or of a remote window) is no desktop.
    case "$(command -v code 2>/dev/null || true)" in
        "" | */remote-cli/*) EDITOR_KIND=code-server ;;
        *) EDITOR_KIND=desktop ;;
    esac
fi

[ -x "$VENV_PYTHON" ] || die "$VENV_PYTHON is missing: run 'make setup' first"
if [ "$EDITOR_KIND" = code-server ]; then
    "$E2E/setup.sh"
fi
ensure_vsix

# The sample workspace: copied once, then only files that are new upstream are added.
mkdir -p "$CACHE/workspace"
cp -rn "$WORKSPACE/." "$CACHE/workspace/"
WORKSPACE="$CACHE/workspace"

PID=""
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$PID" ]; then
        log "stopping"
        stop_tree "$PID"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$EDITOR_KIND" = desktop ]; then
    PROFILE="$CACHE/desktop"
    write_settings "$PROFILE/user-data"
    code --user-data-dir "$PROFILE/user-data" --extensions-dir "$PROFILE/extensions" \
        --install-extension "$VSIX" --force >/dev/null
    log "opening $WORKSPACE in VS Code (profile $PROFILE); close the window or press Ctrl+C to stop"
    setsid code --user-data-dir "$PROFILE/user-data" --extensions-dir "$PROFILE/extensions" \
        --new-window --wait "$WORKSPACE" "$WORKSPACE/geometry.py" </dev/null &
    PID=$!
    wait "$PID" || true
    exit 0
fi

PROFILE="$CACHE/code-server-profile"
if port_in_use "$PORT"; then
    die "127.0.0.1:$PORT is in use; choose another port: TOKENLIGHT_PORT=NNNN make run"
fi
write_settings "$PROFILE/user-data"
install_vsix "$PROFILE"
# code-server runs with a HOME and cache folder of its own: point the extension at the folder where a
# daemon you start yourself (tokenlight serve --tcp|--ws, no --token) saves its generated token
TOKENLIGHT_RUNTIME_DIR="${TOKENLIGHT_RUNTIME_DIR:-$("$VENV_PYTHON" -c 'from tokenlight.server.auth import runtime_dir; print(runtime_dir())')}"
export TOKENLIGHT_RUNTIME_DIR
start_code_server "$PORT" "$PROFILE"
PID="$CS_PID"
URL="http://127.0.0.1:$PORT/?folder=$WORKSPACE"
cat >&2 <<MSG

  Tokenlight is running in VS Code (code-server $CODE_SERVER_VERSION).
  Open:  $URL

  Open geometry.py, select a function signature, press Ctrl+Alt+A (or run
  "Tokenlight: Attribute Continuation" from the command palette, F1).
  A daemon you start with "tokenlight serve --tcp|--ws 127.0.0.1:PORT" is found by
  its token file in $TOKENLIGHT_RUNTIME_DIR: set tokenlight.server.address in the
  Remote settings (Preferences: Open Remote Settings) to the address it prints.
  Profile: $PROFILE   log: $PROFILE/code-server.log
  Press Ctrl+C to stop.

MSG
set +e
wait "$PID"
exit $?
