/**
 * Which Python runs the daemon, and what to tell the user when that Python cannot. Pure: every
 * input (settings, the Python extension's answer, the file system) is passed in, so the order is
 * unit-tested without `vscode`.
 */
import * as path from "node:path";

export type InterpreterSource = "setting" | "pythonExtension" | "venv" | "default";

export interface Interpreter {
    path: string;
    source: InterpreterSource;
    /** Interpreters passed over because an untrusted workspace provides them. */
    skipped?: string[];
}

export interface InterpreterLookup {
    /** `tokenlight.pythonPath`, raw (may hold `${workspaceFolder}` or `~`). */
    setting: string | undefined;
    /** Asks the Python extension (ms-python.python) for its selected interpreter, if installed. */
    activeEnvironment: () => Promise<string | undefined>;
    workspaceFolders: readonly string[];
    /** The extension's own folder: run from a repo checkout, the repo's `.venv` sits beside it. */
    extensionPath: string;
    exists: (file: string) => boolean;
    platform: NodeJS.Platform;
    home: string;
    /** `vscode.workspace.isTrusted`: when false, nothing inside a workspace folder is run. */
    trusted: boolean;
}

/** Whether `file` lies inside one of `folders` (what a workspace ships, it chooses). */
export function insideFolders(file: string, folders: readonly string[], platform: NodeJS.Platform): boolean {
    const paths = platform === "win32" ? path.win32 : path.posix;
    const resolved = paths.resolve(file);
    return folders.some((folder) => {
        const relative = paths.relative(paths.resolve(folder), resolved);
        return relative === "" || (!relative.startsWith("..") && !paths.isAbsolute(relative));
    });
}

/** `${workspaceFolder}`, `${userHome}` and a leading `~` in a configured path, expanded. */
export function expandPath(value: string, workspaceFolder: string | undefined, home: string): string {
    let out = value.replace(/\$\{userHome\}/g, home);
    if (workspaceFolder !== undefined) {
        out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
    }
    if (out === "~" || out.startsWith("~/") || out.startsWith("~\\")) {
        out = home + out.slice(1);
    }
    return out;
}

function venvPython(folder: string, platform: NodeJS.Platform): string {
    return platform === "win32"
        ? path.win32.join(folder, ".venv", "Scripts", "python.exe")
        : path.posix.join(folder, ".venv", "bin", "python");
}

/**
 * Where a project-local `.venv` may be: each workspace folder, then the folder that holds the
 * extension (when the extension runs from this repository's `extension/`, that is the repo root).
 */
export function venvCandidates(
    workspaceFolders: readonly string[],
    extensionPath: string,
    platform: NodeJS.Platform,
): string[] {
    const paths = platform === "win32" ? path.win32 : path.posix;
    const folders = [...workspaceFolders, paths.dirname(extensionPath)];
    return [...new Set(folders.map((folder) => venvPython(folder, platform)))];
}

/**
 * The interpreter that runs `python -m tokenlight serve`, in this order:
 *
 * 1. the `tokenlight.pythonPath` setting (`${workspaceFolder}` and `~` expanded);
 * 2. the interpreter selected in the Python extension (`ms-python.python`), if it is installed;
 * 3. a `.venv` in a workspace folder, then one in the folder holding the extension (a checkout of
 *    this repository, where `make setup` creates `.venv`);
 * 4. `python3` (`python` on Windows) from PATH.
 *
 * In an untrusted workspace every candidate inside a workspace folder is passed over (and named in
 * `skipped`): the workspace could have put anything there.
 */
export async function findInterpreter(lookup: InterpreterLookup): Promise<Interpreter> {
    const skipped: string[] = [];
    const allowed = (file: string): boolean => {
        if (lookup.trusted || !insideFolders(file, lookup.workspaceFolders, lookup.platform)) {
            return true;
        }
        skipped.push(file);
        return false;
    };
    const found = (file: string, source: InterpreterSource): Interpreter =>
        skipped.length > 0 ? { path: file, source, skipped } : { path: file, source };
    if (lookup.setting !== undefined && lookup.setting.trim() !== "") {
        const expanded = expandPath(lookup.setting.trim(), lookup.workspaceFolders[0], lookup.home);
        if (allowed(expanded)) {
            return found(expanded, "setting");
        }
    }
    let active: string | undefined;
    try {
        active = await lookup.activeEnvironment();
    } catch {
        // A Python extension that fails to answer must not stop the daemon from starting.
        active = undefined;
    }
    if (active !== undefined && active !== "" && allowed(active)) {
        return found(active, "pythonExtension");
    }
    for (const candidate of venvCandidates(lookup.workspaceFolders, lookup.extensionPath, lookup.platform)) {
        if (lookup.exists(candidate) && allowed(candidate)) {
            return found(candidate, "venv");
        }
    }
    return found(lookup.platform === "win32" ? "python" : "python3", "default");
}

export function describeSource(source: InterpreterSource): string {
    switch (source) {
        case "setting":
            return "the tokenlight.pythonPath setting";
        case "pythonExtension":
            return "the Python extension's selected interpreter";
        case "venv":
            return "a project .venv";
        case "default":
            return "the default interpreter on PATH";
    }
}

/**
 * The repository checkout the extension runs from, if it does: the extension folder's parent
 * holding `pyproject.toml` and `daemon/tokenlight`. Then the install hint is an editable install.
 */
export function findRepoRoot(extensionPath: string, exists: (file: string) => boolean): string | undefined {
    const parent = path.dirname(extensionPath);
    const marker = path.join(parent, "daemon", "tokenlight", "__init__.py");
    return exists(path.join(parent, "pyproject.toml")) && exists(marker) ? parent : undefined;
}

function quote(arg: string): string {
    return /^[\w./:@\\-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\$`])/g, "\\$1")}"`;
}

/** The command that installs the daemon (with its server extra) into `python`. */
export function installCommand(python: string, repoRoot: string | undefined): string {
    const target = repoRoot === undefined ? "tokenlight[server]" : `${repoRoot}[server]`;
    const editable = repoRoot === undefined ? "" : "-e ";
    return `${quote(python)} -m pip install ${editable}${quote(target)}`;
}

/** Run with `python -c` before starting the daemon: finds the packages without importing torch. */
export const PREFLIGHT_SCRIPT =
    "import importlib.util as u, json, sys; " +
    "print(json.dumps({'tokenlight': u.find_spec('tokenlight') is not None, " +
    "'pygls': u.find_spec('pygls') is not None, 'version': list(sys.version_info[:2])}))";

export interface PreflightReport {
    tokenlight: boolean;
    pygls: boolean;
    version: [number, number];
}

/** Parses the preflight's output; undefined when it printed something else. */
export function parsePreflight(stdout: string): PreflightReport | undefined {
    const line = stdout.trim().split(/\r?\n/).pop() ?? "";
    try {
        const value: unknown = JSON.parse(line);
        if (typeof value !== "object" || value === null) {
            return undefined;
        }
        const v = value as Record<string, unknown>;
        const version = Array.isArray(v.version) ? v.version : [];
        if (typeof v.tokenlight !== "boolean" || typeof v.pygls !== "boolean" || version.length !== 2) {
            return undefined;
        }
        return { tokenlight: v.tokenlight, pygls: v.pygls, version: [Number(version[0]), Number(version[1])] };
    } catch {
        return undefined;
    }
}

/** What happened when the preflight ran: its report, or how running the interpreter failed. */
export type PreflightOutcome =
    | { kind: "ran"; report: PreflightReport }
    | { kind: "notFound" }
    | { kind: "failed"; detail: string };

/**
 * A message a person can act on when the interpreter cannot run the daemon, or undefined when it
 * can. Names the interpreter, where it came from, and the command that fixes it.
 */
export function launchProblem(
    interpreter: Interpreter,
    outcome: PreflightOutcome,
    repoRoot: string | undefined,
): string | undefined {
    const where = `${interpreter.path} (from ${describeSource(interpreter.source)})`;
    switch (outcome.kind) {
        case "notFound":
            return (
                `Tokenlight: cannot run Python ${where}: no such file. ` +
                "Set tokenlight.pythonPath to a Python 3.10+ interpreter, or select one with the Python extension."
            );
        case "failed":
            return `Tokenlight: ${where} could not be run: ${outcome.detail}`;
        case "ran": {
            const { report } = outcome;
            if (!report.tokenlight) {
                return (
                    `Tokenlight: No module named tokenlight in ${where}. Install the daemon with: ` +
                    installCommand(interpreter.path, repoRoot)
                );
            }
            if (!report.pygls) {
                return (
                    `Tokenlight: the daemon's server dependencies (pygls) are missing in ${where}. Install them with: ` +
                    installCommand(interpreter.path, repoRoot)
                );
            }
            return undefined;
        }
    }
}

/**
 * Reads a daemon's stderr after it exited early: a missing module (an interpreter that changed
 * after the preflight, or a broken install) still gets the install command.
 */
export function diagnoseStderr(stderr: string, interpreter: Interpreter, repoRoot: string | undefined): string | undefined {
    const missing = /No module named '?([\w.]+)'?/.exec(stderr);
    if (missing === null) {
        return undefined;
    }
    return (
        `Tokenlight: the daemon could not start: No module named ${missing[1]} in ${interpreter.path}. ` +
        `Install it with: ${installCommand(interpreter.path, repoRoot)}`
    );
}
