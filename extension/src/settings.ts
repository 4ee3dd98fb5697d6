/**
 * The `tokenlight.*` settings, read live through one typed class (one getter per setting, a
 * default for each, values checked rather than cast). No `vscode` import: the class reads through
 * a `ConfigReader`, which `vscode.WorkspaceConfiguration` satisfies, so tests pass a plain map.
 */
import { OPTION_CHOICES, SETTING_DEFAULTS } from "./generated/options";

type Context = (typeof OPTION_CHOICES.context)[number];
type Granularity = (typeof OPTION_CHOICES.granularity)[number];
import type { AttributeOptions, DaemonSettings } from "./protocol";
import { isPaletteId, type Normalization, type PaletteId } from "./palette";

export const SECTION = "tokenlight";

/** Where a setting's value was set (the part of `vscode.WorkspaceConfiguration.inspect` used). */
export interface Inspected<T> {
    globalValue?: T;
    workspaceValue?: T;
    workspaceFolderValue?: T;
}

/** The part of `vscode.WorkspaceConfiguration` the settings need. */
export interface ConfigReader {
    get<T>(section: string): T | undefined;
    inspect<T>(section: string): Inspected<T> | undefined;
}

/**
 * Settings that choose a process to run or a host to send documents to: read from the user's (or,
 * in a remote window, the remote machine's) settings only, never from a workspace's
 * `.vscode/settings.json`, which any repository can ship. package.json gives them `machine` scope.
 */
export const USER_ONLY_KEYS: readonly string[] = ["pythonPath", "server.address"];

/** The old setting that held the remote token in a settings file; the token now lives in SecretStorage. */
export const LEGACY_TOKEN_KEY = "server.token";

/** Settings whose change means a different daemon process (or connection): restart it. */
export const RESTART_KEYS: readonly string[] = USER_ONLY_KEYS;

/**
 * Where a command that changes `key` (the palette's method or model) writes: the workspace only
 * when the user already set that key there (else the workspace value would keep winning), else
 * the user settings. It never creates a workspace's `.vscode/settings.json` on its own.
 */
export function settingsTarget(inspected: Inspected<unknown> | undefined): "workspace" | "user" {
    return inspected?.workspaceValue !== undefined ? "workspace" : "user";
}

/** Settings that only change how the extension colours: re-render, never bother the daemon. */
export const RENDER_KEYS: readonly string[] = ["normalization", "normalizationScale", "palette", "specialTokensInScale"];

/** Whether a configuration change (`affects` = `event.affectsConfiguration`) needs a restart. */
export function needsRestart(affects: (section: string) => boolean): boolean {
    return RESTART_KEYS.some((key) => affects(`${SECTION}.${key}`));
}

export function affectsRendering(affects: (section: string) => boolean): boolean {
    return RENDER_KEYS.some((key) => affects(`${SECTION}.${key}`));
}

const NORMALIZATIONS: readonly Normalization[] = ["target", "global", "none"];

function nonEmpty(value: string | undefined | null): string | undefined {
    const trimmed = value?.trim();
    return trimmed ? trimmed : undefined;
}

function positiveInt(value: unknown): number | undefined {
    return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined;
}

export class Settings {
    constructor(private readonly read: () => ConfigReader) {}

    private string(key: string): string | undefined {
        const value = this.read().get<unknown>(key);
        return typeof value === "string" ? nonEmpty(value) : undefined;
    }

    /** A {@link USER_ONLY_KEYS} setting: its user (or remote machine) value, whatever a workspace says. */
    private userString(key: string): string | undefined {
        const value = this.read().inspect<unknown>(key)?.globalValue;
        return typeof value === "string" ? nonEmpty(value) : undefined;
    }

    /** Model folder or Hugging Face id; undefined = the daemon's embedded default. */
    get model(): string | undefined {
        return this.string("model");
    }

    get method(): string {
        return this.string("method") ?? SETTING_DEFAULTS.method;
    }

    /** Path points for path methods; undefined = the method's own default. */
    get nSteps(): number | undefined {
        return positiveInt(this.read().get<unknown>("nSteps"));
    }

    /** The target whose per-layer view every result carries (negative from the end); undefined = none. */
    get perLayer(): number | undefined {
        const value = this.read().get<unknown>("perLayer");
        return typeof value === "number" && Number.isInteger(value) ? value : undefined;
    }

    get maxNewTokens(): number {
        return positiveInt(this.read().get<unknown>("maxNewTokens")) ?? SETTING_DEFAULTS.maxNewTokens;
    }

    get baseline(): string {
        return this.string("baseline") ?? SETTING_DEFAULTS.baseline;
    }

    /**
     * The step function's id: a built-in or any id the daemon has registered (an installed
     * package's entry point), so it is not narrowed to the built-ins here. The daemon is the
     * authority: an id it does not know is its clear error, shown to the user.
     */
    get stepFunction(): string {
        return this.string("stepFunction") ?? SETTING_DEFAULTS.stepFunction;
    }

    /** What the model sees: the selection, or the document up to the selection's end. */
    get context(): Context {
        const value = this.string("context");
        return OPTION_CHOICES.context.find((c) => c === value) ?? SETTING_DEFAULTS.context;
    }

    /** The spans the context is scored in (token, word, line, block, symbol, turn). */
    get granularity(): Granularity {
        const value = this.string("granularity");
        return OPTION_CHOICES.granularity.find((g) => g === value) ?? SETTING_DEFAULTS.granularity;
    }

    /** Whether the gradient-path methods run the decoder layers compiled (torch.compile): speed only. */
    get compileLayers(): boolean {
        return this.read().get<unknown>("compileLayers") === true;
    }

    /** Whether the model's chat template is applied (the selection as a user message, a document as turns). */
    get chat(): boolean {
        return this.read().get<unknown>("chat") === true;
    }

    /** The alternative token for `logit_diff` / `probability_diff`. */
    get contrastToken(): string | undefined {
        return this.string("contrastToken");
    }

    get device(): string {
        return this.string("device") ?? "auto";
    }

    get dtype(): string {
        return this.string("dtype") ?? "auto";
    }

    get normalization(): Normalization {
        const value = this.string("normalization");
        return NORMALIZATIONS.find((n) => n === value) ?? "target";
    }

    /** The fixed scale `normalization: none` clamps raw scores at. */
    get normalizationScale(): number {
        const value = this.read().get<unknown>("normalizationScale");
        return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 1.0;
    }

    get palette(): PaletteId {
        const value = this.string("palette");
        return value !== undefined && isPaletteId(value) ? value : "blueOrange";
    }

    /** Whether special tokens (BOS, EOS) count towards the colour scale (by default they do not). */
    get specialTokensInScale(): boolean {
        return this.read().get<unknown>("specialTokensInScale") === true;
    }

    get pythonPath(): string | undefined {
        return this.userString("pythonPath");
    }

    /** `tcp://host:port` or `ws://host:port` of a running daemon; undefined = spawn one. */
    get serverAddress(): string | undefined {
        return this.userString("server.address");
    }

    /** Where the old `tokenlight.server.token` setting still has a value (it is no longer used). */
    legacyToken(): { user: string | undefined; inWorkspace: boolean } {
        const inspected = this.read().inspect<unknown>(LEGACY_TOKEN_KEY);
        const user = typeof inspected?.globalValue === "string" ? nonEmpty(inspected.globalValue) : undefined;
        const inWorkspace = inspected?.workspaceValue !== undefined || inspected?.workspaceFolderValue !== undefined;
        return { user, inWorkspace };
    }

    /** The `options` of a `tokenlight/attribute` request, from the settings. */
    attributeOptions(): AttributeOptions {
        const options: AttributeOptions = {
            baseline: this.baseline,
            stepFunction: this.stepFunction,
            context: this.context,
            granularity: this.granularity,
        };
        if (this.nSteps !== undefined) {
            options.nSteps = this.nSteps;
        }
        if (this.contrastToken !== undefined) {
            options.contrastToken = this.contrastToken;
        }
        if (this.chat) {
            options.chat = true;
        }
        return options;
    }

    /**
     * The settings the daemon uses as request defaults: sent in `initializationOptions` and on
     * every change. Only these keys: the extension-only ones (palette, pythonPath, server.*) are
     * none of the daemon's business, and the token must not travel in every configuration push.
     */
    daemonSettings(): DaemonSettings {
        return {
            model: this.model ?? null,
            device: this.device,
            dtype: this.dtype,
            method: this.method,
            nSteps: this.nSteps ?? null,
            perLayer: this.perLayer ?? null,
            baseline: this.baseline,
            stepFunction: this.stepFunction,
            context: this.context,
            granularity: this.granularity,
            chat: this.chat,
            maxNewTokens: this.maxNewTokens,
            compileLayers: this.compileLayers,
        };
    }
}
