/**
 * Colour maths, pure (no `vscode`): which scores a view shows, how they are normalised, and how a
 * score becomes one of a fixed number of colour levels.
 *
 * The hues are the ones `daemon/tokenlight/render/colors.py` uses for the terminal and HTML
 * renderers (ColorBrewer's blue arm of RdBu for negative, orange arm of PuOr for positive), so the
 * editor, the matrix webview and the CLI all agree. Both palettes keep the sign as a hue and stay
 * distinguishable under deuteranopia and protanopia (no red/green).
 */

export type Rgb = readonly [number, number, number];
export type Sign = "negative" | "positive";
export type PaletteId = "blueOrange" | "purpleGreen";
export type ThemeKind = "light" | "dark" | "highContrast" | "highContrastLight";
export type Normalization = "target" | "global" | "none";

/**
 * Colour levels per sign: the decoration pool holds `2 × LEVELS` types, created once. Ten steps
 * per sign, spaced evenly in perceived colour (OKLab, see `levelStyle`), so a score a tenth of the
 * strongest and one half of it never draw alike.
 */
export const LEVELS = 10;

/**
 * The dead zone: a score whose magnitude is below this share of the scale is left untinted, so
 * the eye goes to the tokens that matter and near-zero noise draws as nothing.
 */
export const DEAD_ZONE = 0.05;

interface Arm {
    /** The lighter stop (the matrix's middle of the ramp). */
    readonly light: Rgb;
    /** The saturated stop: the editor's tint on light backgrounds, the matrix's strong end. */
    readonly strong: Rgb;
    /**
     * The editor's tint on dark backgrounds: saturated but dark enough that light text stays
     * readable on its strongest level (a light stop would wash the text out).
     */
    readonly onDark: Rgb;
}

export interface Palette {
    readonly negative: Arm;
    readonly positive: Arm;
}

export const NEUTRAL: Rgb = [247, 247, 247];

export const PALETTES: Readonly<Record<PaletteId, Palette>> = {
    // colors.py: _NEGATIVE_STOPS / _POSITIVE_STOPS
    blueOrange: {
        negative: { light: [146, 197, 222], strong: [33, 102, 172], onDark: [33, 102, 172] },
        // PuOr's darker orange: RdBu-orange at full tint is too bright under light text
        positive: { light: [253, 184, 99], strong: [230, 97, 1], onDark: [179, 88, 6] },
    },
    // ColorBrewer PRGn (colour-blind safe): purple negative, green positive
    purpleGreen: {
        negative: { light: [194, 165, 207], strong: [118, 42, 131], onDark: [153, 112, 171] },
        positive: { light: [166, 219, 160], strong: [27, 120, 55], onDark: [27, 120, 55] },
    },
};

export function isPaletteId(value: string): value is PaletteId {
    return Object.prototype.hasOwnProperty.call(PALETTES, value);
}

/** A score's place in the pool: its sign and a level in 1..levels. */
export interface Quantised {
    sign: Sign;
    level: number;
}

function isFiniteNumber(v: number | null | undefined): v is number {
    return typeof v === "number" && Number.isFinite(v);
}

function largestMagnitude(values: Iterable<number | null>): number {
    let m = 0;
    for (const v of values) {
        if (isFiniteNumber(v) && Math.abs(v) > m) {
            m = Math.abs(v);
        }
    }
    return m;
}

/** The largest |finite value|, or 1.0 when there is none or it is 0 (never divide by zero). */
export function maxAbs(values: Iterable<number | null>): number {
    return largestMagnitude(values) || 1.0;
}

/**
 * Sum the rows of a `[T][N]` matrix, ignoring nulls. A column that is null in every row stays
 * null (it has no score at all) instead of becoming a misleading 0 — as colors.summed_scores.
 */
export function sumRows(rows: readonly (readonly (number | null)[])[]): (number | null)[] {
    const width = rows.reduce((w, r) => Math.max(w, r.length), 0);
    const out: (number | null)[] = new Array<number | null>(width).fill(null);
    for (const row of rows) {
        row.forEach((v, i) => {
            if (isFiniteNumber(v)) {
                out[i] = (out[i] ?? 0) + v;
            }
        });
    }
    return out;
}

/**
 * The vector a view colours: the focused target's row, or the sum over all targets when no
 * target is focused (or the focus is out of range).
 */
export function attributionVector(
    scores: readonly (readonly (number | null)[])[],
    focus: number | null,
): (number | null)[] {
    if (focus !== null && focus >= 0 && focus < scores.length) {
        return [...scores[focus]];
    }
    return sumRows(scores);
}

/**
 * The number that maps to full saturation.
 *
 * - `target`: max |score| of the vector on show (the focused row, or the sum), so the strongest
 *   token of the view is always fully saturated;
 * - `global`: max |score| over every row of the result, so rows compare to each other (the sum
 *   view can exceed every row, so its own max counts too);
 * - `none`: the fixed scale from the settings (1.0 when unset or not positive): raw scores clamp.
 */
export function normalisationScale(
    mode: Normalization,
    scores: readonly (readonly (number | null)[])[],
    vector: readonly (number | null)[],
    fixedScale: number,
): number {
    switch (mode) {
        case "target":
            return maxAbs(vector);
        case "global":
            return Math.max(largestMagnitude(scores.flat()), largestMagnitude(vector)) || 1.0;
        case "none":
            return Number.isFinite(fixedScale) && fixedScale > 0 ? fixedScale : 1.0;
    }
}

/**
 * Which of the `levels` colour levels a score falls in, or undefined for no colour (null, NaN,
 * or |value| below `deadZone` × scale). Above the dead zone the levels split (deadZone, 1] evenly;
 * |value| >= scale saturates at `levels`.
 */
export function quantise(
    value: number | null,
    scale: number,
    levels: number = LEVELS,
    deadZone: number = DEAD_ZONE,
): Quantised | undefined {
    if (!isFiniteNumber(value) || value === 0) {
        return undefined;
    }
    const s = Number.isFinite(scale) && scale > 0 ? scale : 1.0;
    const t = Math.min(Math.abs(value) / s, 1);
    if (t < deadZone) {
        return undefined;
    }
    const level = Math.min(levels, Math.max(1, Math.ceil(((t - deadZone) / (1 - deadZone)) * levels)));
    return { sign: value > 0 ? "positive" : "negative", level };
}

/** The share of the scale where `level` begins and ends: (lower, upper]. For legends. */
export function levelBounds(level: number, levels: number = LEVELS, deadZone: number = DEAD_ZONE): [number, number] {
    const step = (1 - deadZone) / levels;
    return [deadZone + (level - 1) * step, deadZone + level * step];
}

/** Linear interpolation between two colours, `t` in [0, 1]. */
export function mix(a: Rgb, b: Rgb, t: number): Rgb {
    const c = Math.min(Math.max(t, 0), 1);
    return [
        Math.round(a[0] + (b[0] - a[0]) * c),
        Math.round(a[1] + (b[1] - a[1]) * c),
        Math.round(a[2] + (b[2] - a[2]) * c),
    ];
}

export function rgba(rgb: Rgb, alpha: number): string {
    return `rgba(${rgb[0]}, ${rgb[1]}, ${rgb[2]}, ${Number(alpha.toFixed(3))})`;
}

export function hex(rgb: Rgb): string {
    return `#${rgb.map((c) => c.toString(16).padStart(2, "0")).join("")}`;
}

/** What one pooled decoration type looks like. */
export interface LevelStyle {
    backgroundColor: string;
    /** CSS border shorthand; set for high-contrast themes, where a background alone is not enough. */
    border?: string;
    /** The tint as it looks over the theme's usual editor background (opaque), for legends. */
    swatch: Rgb;
}

/** The editor background each theme kind usually has (Light+, Dark+, the two high-contrast themes). */
export const THEME_BACKGROUND: Readonly<Record<ThemeKind, Rgb>> = {
    light: [255, 255, 255],
    dark: [30, 30, 30],
    highContrast: [0, 0, 0],
    highContrastLight: [255, 255, 255],
};

/**
 * The strongest tint's opacity per theme kind: high enough that the strongest token reads at once,
 * low enough that the editor's text (dark on light themes, light on dark ones) stays legible and the
 * selection shows through.
 */
const MAX_ALPHA: Readonly<Record<ThemeKind, number>> = {
    light: 0.8,
    dark: 0.75,
    highContrast: 0.8,
    highContrastLight: 0.8,
};

function srgbToLinear(c: number): number {
    const x = c / 255;
    return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
}

/** OKLab (Ottosson 2020): a space where equal distances look like equal colour differences. */
export function oklab(rgb: Rgb): [number, number, number] {
    const [r, g, b] = rgb.map(srgbToLinear);
    const l = Math.cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
    const m = Math.cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
    const s = Math.cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
    return [
        0.2104542553 * l + 0.793617785 * m - 0.0040720468 * s,
        1.9779984951 * l - 2.428592205 * m + 0.4505937099 * s,
        0.0259040371 * l + 0.7827717662 * m - 0.808675799 * s,
    ];
}

/** Perceived colour difference (Euclidean distance in OKLab). */
export function deltaE(a: Rgb, b: Rgb): number {
    const [l1, a1, b1] = oklab(a);
    const [l2, a2, b2] = oklab(b);
    return Math.hypot(l1 - l2, a1 - a2, b1 - b2);
}

/** `rgb` at `alpha` over `background`, as the browser composites it (in sRGB). */
export function composite(rgb: Rgb, alpha: number, background: Rgb): Rgb {
    return mix(background, rgb, alpha);
}

/**
 * The opacity at which `rgb` over `background` lies `share` of the way (in OKLab distance) from
 * the background to `rgb` at `maxAlpha`. The distance grows monotonically with the opacity, so a
 * bisection finds it; unrounded mixing keeps the search smooth.
 */
function perceptualAlpha(rgb: Rgb, background: Rgb, maxAlpha: number, share: number): number {
    const at = (alpha: number): number => {
        const c: Rgb = [0, 1, 2].map((i) => background[i] + (rgb[i] - background[i]) * alpha) as unknown as Rgb;
        return deltaE(background, c);
    };
    const goal = share * at(maxAlpha);
    let lo = 0;
    let hi = maxAlpha;
    for (let i = 0; i < 40; i++) {
        const midpoint = (lo + hi) / 2;
        if (at(midpoint) < goal) {
            lo = midpoint;
        } else {
            hi = midpoint;
        }
    }
    return (lo + hi) / 2;
}

/**
 * The style of level `level` (1..levels) of `sign` under a theme.
 *
 * A translucent background lets the editor's own text colour and selection show through: light
 * themes get the saturated stop, dark themes the `onDark` one (dark enough for light text). The opacities are chosen so that the tints, over the theme's usual background, step
 * evenly in perceived colour from the background to the strongest (OKLab distance): a linear
 * opacity ramp would crowd the strong end together. Level 1 already sits one step away from the
 * background (the dead zone below it is untinted). High-contrast themes add a border whose style
 * also carries the sign (solid for positive, dashed for negative) so the sign never depends on hue
 * alone.
 */
export function levelStyle(
    palette: Palette,
    theme: ThemeKind,
    sign: Sign,
    level: number,
    levels: number = LEVELS,
): LevelStyle {
    const arm = sign === "positive" ? palette.positive : palette.negative;
    const t = Math.min(Math.max(level, 1), levels) / levels;
    const dark = theme === "dark" || theme === "highContrast";
    const base = dark ? arm.onDark : arm.strong;
    const background = THEME_BACKGROUND[theme];
    const alpha = perceptualAlpha(base, background, MAX_ALPHA[theme], t);
    const style: LevelStyle = { backgroundColor: rgba(base, alpha), swatch: composite(base, alpha, background) };
    if (theme === "highContrast" || theme === "highContrastLight") {
        const width = t > 0.5 ? 2 : 1;
        style.border = `${width}px ${sign === "positive" ? "solid" : "dashed"} ${hex(base)}`;
    }
    return style;
}

/** One swatch of a legend: its colour (opaque, over the theme's background) and what it stands for. */
export interface LegendEntry {
    sign: Sign | "none";
    level: number;
    swatch: Rgb;
    /** The share of the scale this swatch covers, e.g. "35–45%" (of the strongest |score|). */
    range: string;
}

function pct(x: number): string {
    return `${Math.round(x * 100)}%`;
}

/**
 * The legend of the editor's colours, strongest negative first, then the untinted dead zone, then
 * up to the strongest positive: what the status bar tooltip, the hover and the matrix show.
 */
export function legend(palette: Palette, theme: ThemeKind, levels: number = LEVELS): LegendEntry[] {
    const entry = (sign: Sign, level: number): LegendEntry => {
        const [lo, hi] = levelBounds(level, levels);
        return { sign, level, swatch: levelStyle(palette, theme, sign, level, levels).swatch, range: `${pct(lo)}–${pct(hi)}` };
    };
    const out: LegendEntry[] = [];
    for (let level = levels; level >= 1; level--) {
        out.push(entry("negative", level));
    }
    out.push({ sign: "none", level: 0, swatch: THEME_BACKGROUND[theme], range: `under ${pct(DEAD_ZONE)}` });
    for (let level = 1; level <= levels; level++) {
        out.push(entry("positive", level));
    }
    return out;
}

/** The legend's words: what the ends mean and where the dead zone is. */
export function legendCaption(normalization: Normalization, specialsInScale = false): string {
    const scale =
        normalization === "target"
            ? "the strongest |score| on show"
            : normalization === "global"
              ? "the strongest |score| of the result"
              : "tokenlight.normalizationScale";
    return (
        `negative ← → positive; full colour at ${scale}; untinted under ${pct(DEAD_ZONE)} of it` +
        (specialsInScale ? "" : "; special tokens (BOS) are left out of the scale")
    );
}

/**
 * An opaque colour for a score, for the matrix webview (as colors.diverging_rgb): neutral at 0,
 * through the light stop to the strong one at |value| >= scale; null is undefined (grey there).
 */
export function divergingRgb(palette: Palette, value: number | null, scale: number): Rgb | undefined {
    if (!isFiniteNumber(value)) {
        return undefined;
    }
    const s = Number.isFinite(scale) && scale > 0 ? scale : 1.0;
    const t = Math.min(Math.abs(value) / s, 1);
    const arm = value > 0 ? palette.positive : palette.negative;
    return t <= 0.5 ? mix(NEUTRAL, arm.light, t * 2) : mix(arm.light, arm.strong, (t - 0.5) * 2);
}

/** WCAG relative luminance, to pick black or white text on a cell. */
export function relativeLuminance(rgb: Rgb): number {
    const lin = (c: number): number => {
        const x = c / 255;
        return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
}

/** Black or white, whichever contrasts more with `background` (colors.text_rgb). */
export function textRgb(background: Rgb): Rgb {
    const lum = relativeLuminance(background);
    return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) ? [0, 0, 0] : [255, 255, 255];
}

/** A document range to colour, with its place in the decoration pool. */
export interface ColouredRange<R> {
    range: R;
    value: number;
    colour: Quantised;
}

/** The parts of a stored result the colouring needs (structural, so tests pass plain objects). */
export interface Colourable<R> {
    focus: number | null;
    result: {
        sourceTokens: readonly { range: R | null; special?: boolean; template?: boolean; text?: string }[];
        targetTokens: readonly { range: R | null; special?: boolean; text?: string }[];
        scores: readonly (readonly (number | null)[])[];
    };
}

/**
 * Positions (into a row of `scores`: sources, then targets) of the special tokens (BOS, EOS, ...)
 * and of a chat template's tokens: neither is text of the document, so both stay out of the scale.
 */
export function specialPositions(result: Colourable<unknown>["result"]): Set<number> {
    const out = new Set<number>();
    [...result.sourceTokens, ...result.targetTokens].forEach((token, i) => {
        if (token.special === true || ("template" in token && token.template === true)) {
            out.add(i);
        }
    });
    return out;
}

/** `vector` with the entries at `positions` set to null (they take no part in a scale). */
export function without(vector: readonly (number | null)[], positions: ReadonlySet<number>): (number | null)[] {
    return vector.map((v, i) => (positions.has(i) ? null : v));
}

/** A special token's share of the view's total |attribution|. */
export interface SpecialShare {
    text: string;
    index: number;
    /** In [0, 1]: |score| over the sum of every |score| of the vector on show. */
    share: number;
}

/**
 * How much of the |attribution| on show (the focused row, or the sum) the special tokens carry,
 * largest first. They are left out of the colour scale (an invisible BOS often holds the largest
 * score and would pale every visible token), so their weight is stated in words instead.
 */
export function specialShares(stored: Colourable<unknown>): SpecialShare[] {
    const { sourceTokens, targetTokens, scores } = stored.result;
    const vector = attributionVector(scores, stored.focus);
    let total = 0;
    for (const v of vector) {
        if (isFiniteNumber(v)) {
            total += Math.abs(v);
        }
    }
    if (total === 0) {
        return [];
    }
    const tokens = [...sourceTokens, ...targetTokens];
    const out: SpecialShare[] = [];
    // a chat template has tens of tokens (role names, markers): their weight is said once, summed
    let template = 0;
    let firstTemplate = -1;
    for (const i of specialPositions(stored.result)) {
        const v = vector[i];
        if (!isFiniteNumber(v) || v === 0) {
            continue;
        }
        const token = tokens[i];
        if ("template" in token && token.template === true) {
            template += Math.abs(v);
            firstTemplate = firstTemplate < 0 ? i : firstTemplate;
        } else {
            out.push({ text: token.text ?? "special", index: i, share: Math.abs(v) / total });
        }
    }
    if (template > 0) {
        out.push({ text: "the chat template", index: firstTemplate, share: template / total });
    }
    return out.sort((a, b) => b.share - a.share);
}

/** "<|endoftext|> carries 38% of |attribution|" for each special token with a share, or "". */
export function specialShareLine(stored: Colourable<unknown>): string {
    const shares = specialShares(stored);
    if (shares.length === 0) {
        return "";
    }
    const parts = shares.map((s) => `${s.text} carries ${Math.round(s.share * 100)}% of |attribution|`);
    return `${parts.join("; ")} (special: not in the colour scale)`;
}

/**
 * Which document ranges get which colour level.
 *
 * The vector is the focused target's row (or the sum over targets); its first S entries colour
 * the source tokens and, for `following` results whose targets lie in the document, entries
 * S..S+T-1 colour the target tokens. The scale is set by what is drawn: generated targets (ghost
 * text) take no part in it, nor do special tokens (BOS, EOS) unless `specialsInScale` (they have no
 * text to colour, and an invisible BOS with the largest score would pale every visible token). Tokens sharing one range (the byte pieces of one multi-byte character)
 * are summed, as the CLI renderer does. Ranges are compared by `key`.
 */
export function colourRanges<R>(
    stored: Colourable<R>,
    mode: Normalization,
    fixedScale: number,
    key: (range: R) => string,
    levels: number = LEVELS,
    specialsInScale = false,
): ColouredRange<R>[] {
    const { sourceTokens, targetTokens, scores } = stored.result;
    // Out of the scale: what is not drawn. Generated targets (ghost text, no document range) and,
    // unless asked, the special tokens; otherwise an invisible token could pale every visible one.
    const specials = specialsInScale ? new Set<number>() : specialPositions(stored.result);
    [...sourceTokens, ...targetTokens].forEach((token, i) => {
        if (token.range === null && token.special !== true) {
            specials.add(i);
        }
    });
    const vector = without(attributionVector(scores, stored.focus), specials);
    const scale = normalisationScale(
        mode,
        scores.map((row) => without(row, specials)),
        vector,
        fixedScale,
    );
    const merged = new Map<string, { range: R; value: number | null }>();
    const tokens = [...sourceTokens, ...targetTokens];
    tokens.forEach((token, i) => {
        if (token.range === null || i >= vector.length) {
            return;
        }
        const v = vector[i];
        const k = key(token.range);
        const existing = merged.get(k);
        if (existing === undefined) {
            merged.set(k, { range: token.range, value: v });
        } else if (typeof v === "number" && Number.isFinite(v)) {
            existing.value = (existing.value ?? 0) + v;
        }
    });
    const out: ColouredRange<R>[] = [];
    for (const { range, value } of merged.values()) {
        const colour = quantise(value, scale, levels);
        if (colour !== undefined && value !== null) {
            out.push({ range, value, colour });
        }
    }
    return out;
}
