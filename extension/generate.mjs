// Regenerates what is derived from the daemon's option spec and method registry (src/generated/,
// the method and step-function choices in package.json, the README and protocol option tables) by
// running `python -m tokenlight.codegen` with the project's Python: $TOKENLIGHT_PYTHON, else the
// repository's .venv. The generated files are committed and a daemon test fails when they are stale,
// so a build without that Python keeps the committed ones and says so.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const python = process.env.TOKENLIGHT_PYTHON ?? resolve(root, ".venv", "bin", "python");
if (!existsSync(python)) {
    console.warn(`generate: ${python} not found (run 'make setup'); keeping the committed generated files`);
    process.exit(0);
}
const run = spawnSync(python, ["-m", "tokenlight.codegen"], { cwd: root, stdio: "inherit" });
process.exit(run.status ?? 1);
