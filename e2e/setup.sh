#!/usr/bin/env bash
# Idempotent set-up for `make run` and the browser test: apt packages that are missing, Node 24 and
# playwright-core (e2e/node_modules, from e2e/package-lock.json), code-server (e2e/code-server/
# node_modules, from its lockfile, built by Node 24). Each step is skipped while its stamp
# (e2e/.cache/stamps/, holding its lockfile's hash) is current, so a second run takes about a second.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$STAMPS"

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

# 1. apt: only what is missing (dpkg -s), non-interactively.
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    log "apt-get install ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing after the apt step"

# 2. Node 24 + playwright-core (installed by whatever npm is on PATH; Node >= 20).
want="$(hash_of "$E2E/package.json" "$E2E/package-lock.json")"
if ! stamp_ok e2e-npm "$want" || [ ! -x "$NODE24" ]; then
    log "npm ci in e2e/ (Node 24.21.0, playwright-core 1.65.1)"
    (cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$STAMPS/e2e-npm"
fi
[ "$("$NODE24" --version)" = "v24.21.0" ] || die "unexpected Node 24 binary: $("$NODE24" --version)"

# 3. code-server, built by Node 24 against its own headers (not the machine's Node 20 ones).
want="$(hash_of "$E2E/code-server/package.json" "$E2E/code-server/package-lock.json" "$E2E/package-lock.json")"
if ! stamp_ok code-server "$want" || [ ! -f "$CODE_SERVER_JS" ]; then
    log "npm ci in e2e/code-server/ (code-server 4.139.1; compiles native modules, a few minutes)"
    (
        cd "$E2E/code-server"
        export PATH="$NODE24_DIR/bin:$PATH" npm_config_nodedir="$NODE24_DIR"
        npm ci --no-audit --no-fund --loglevel=error
    )
    echo "$want" >"$STAMPS/code-server"
fi
version="$(code_server --version 2>/dev/null | grep -m1 -o '^[0-9][0-9.]* [0-9a-f]*' || true)"
case "$version" in "$CODE_SERVER_VERSION "*) ;; *) die "code-server --version says '$version', expected $CODE_SERVER_VERSION" ;; esac
