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

/** Colour levels per sign: the decoration pool holds `2 × LEVELS` types, created once. */
export const LEVELS = 8;

interface Arm {
    /** The lighter stop: reads on dark backgrounds. */
    readonly light: Rgb;
    /** The saturated stop: reads on light backgrounds. */
    readonly strong: Rgb;
}

export interface Palette {
    readonly negative: Arm;
    readonly positive: Arm;
}

export const NEUTRAL: Rgb = [247, 247, 247];

export const PALETTES: Readonly<Record<PaletteId, Palette>> = {
    // colors.py: _NEGATIVE_STOPS / _POSITIVE_STOPS
    blueOrange: {
        negative: { light: [146, 197, 222], strong: [33, 102, 172] },
        positive: { light: [253, 184, 99], strong: [230, 97, 1] },
    },
    // ColorBrewer PRGn (colour-blind safe): purple negative, green positive
    purpleGreen: {
        negative: { light: [194, 165, 207], strong: [118, 42, 131] },
        positive: { light: [166, 219, 160], strong: [27, 120, 55] },
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
 * or exactly 0). Any non-zero score gets at least level 1 so a small contribution is still
 * visible; |value| >= scale saturates at `levels`.
 */
export function quantise(value: number | null, scale: number, levels: number = LEVELS): Quantised | undefined {
    if (!isFiniteNumber(value) || value === 0) {
        return undefined;
    }
    const s = Number.isFinite(scale) && scale > 0 ? scale : 1.0;
    const t = Math.min(Math.abs(value) / s, 1);
    const level = Math.max(1, Math.ceil(t * levels));
    return { sign: value > 0 ? "positive" : "negative", level };
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
}

/**
 * The style of level `level` (1..levels) of `sign` under a theme.
 *
 * A translucent background lets the editor's own text colour and selection show through: light
 * themes get the saturated stop, dark themes the lighter one (saturated blue vanishes on a dark
 * background). High-contrast themes add a border whose style also carries the sign (solid for
 * positive, dashed for negative) so the sign never depends on hue alone.
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
    const base = dark ? arm.light : arm.strong;
    const alpha = dark ? 0.12 + 0.58 * t : 0.1 + 0.6 * t;
    const style: LevelStyle = { backgroundColor: rgba(base, alpha) };
    if (theme === "highContrast" || theme === "highContrastLight") {
        const width = t > 0.5 ? 2 : 1;
        style.border = `${width}px ${sign === "positive" ? "solid" : "dashed"} ${hex(base)}`;
    }
    return style;
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
        sourceTokens: readonly { range: R | null }[];
        targetTokens: readonly { range: R | null }[];
        scores: readonly (readonly (number | null)[])[];
    };
}

/**
 * Which document ranges get which colour level.
 *
 * The vector is the focused target's row (or the sum over targets); its first S entries colour
 * the source tokens and, for `following` results whose targets lie in the document, entries
 * S..S+T-1 colour the target tokens. Tokens sharing one range (the byte pieces of one multi-byte
 * character) are summed, as the CLI renderer does. Ranges are compared by `key`.
 */
export function colourRanges<R>(
    stored: Colourable<R>,
    mode: Normalization,
    fixedScale: number,
    key: (range: R) => string,
    levels: number = LEVELS,
): ColouredRange<R>[] {
    const { sourceTokens, targetTokens, scores } = stored.result;
    const vector = attributionVector(scores, stored.focus);
    const scale = normalisationScale(mode, scores, vector, fixedScale);
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
