/**
 * The Python extension's (ms-python.python) selected interpreter, through its public
 * `environments` API. Only the few members used here are typed; an extension without the API
 * (too old, or not installed) simply contributes no interpreter.
 */
import * as vscode from "vscode";

interface EnvironmentPath {
    id: string;
    path: string;
}

interface PythonEnvironmentsApi {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(environment: EnvironmentPath | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
}

interface PythonExtensionApi {
    environments?: PythonEnvironmentsApi;
}

const PYTHON_EXTENSION = "ms-python.python";

async function environmentsApi(): Promise<PythonEnvironmentsApi | undefined> {
    const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION);
    if (extension === undefined) {
        return undefined;
    }
    const api = extension.isActive ? extension.exports : await extension.activate();
    return api?.environments;
}

/** The interpreter the Python extension has selected for `resource`, or undefined. */
export async function activeInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
    const environments = await environmentsApi();
    if (environments === undefined) {
        return undefined;
    }
    const active = environments.getActiveEnvironmentPath(resource);
    // A virtual environment may be identified by its folder: resolve it to the executable.
    const resolved = await environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
}

/** Calls `listener` when the user selects another interpreter in the Python extension. */
export async function onDidChangeInterpreter(listener: () => void): Promise<vscode.Disposable | undefined> {
    const environments = await environmentsApi();
    return environments?.onDidChangeActiveEnvironmentPath(() => listener());
}
