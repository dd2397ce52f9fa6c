/**
 * Colours from the VS Code theme (`--vscode-*` CSS variables), read at run time: the graph is drawn on
 * a canvas, which CSS cannot reach, so the view re-reads these and repaints when the theme changes.
 *
 * Each role lists candidate variables in order of preference; the first one that is set and stands out
 * from the background enough (text 4.5:1, marks 3:1, WCAG's contrast ratio) wins. Themes differ: the
 * light theme's yellow chart colour is too pale for a node on white, its orange is not.
 */

export interface Theme {
  background: string;
  foreground: string;
  muted: string;
  border: string;
  focus: string;
  embedding: string;
  feature: string;
  error: string;
  logit: string;
  supernode: string;
  positive: string;
  negative: string;
  pinned: string;
  match: string;
  /** Verify's mark on a node whose measured effect contradicts the graph. */
  flag: string;
  fontFamily: string;
}

type Role = Exclude<keyof Theme, 'fontFamily' | 'background'>;

/** [candidates, minimum contrast against the background, fallback]. */
const ROLES: Record<Role, [string[], number, string]> = {
  foreground: [['--vscode-editor-foreground', '--vscode-foreground'], 4.5, '#d4d4d4'],
  muted: [['--vscode-descriptionForeground', '--vscode-foreground'], 4.5, '#9d9d9d'],
  border: [['--vscode-editorRuler-foreground', '--vscode-panel-border', '--vscode-descriptionForeground'], 1.3, '#5a5a5a'],
  focus: [['--vscode-focusBorder', '--vscode-contrastActiveBorder', '--vscode-foreground'], 3, '#007fd4'],
  embedding: [['--vscode-charts-green', '--vscode-terminal-ansiGreen', '--vscode-foreground'], 3, '#89d185'],
  feature: [['--vscode-charts-purple', '--vscode-terminal-ansiMagenta', '--vscode-foreground'], 3, '#b180d7'],
  error: [['--vscode-descriptionForeground', '--vscode-disabledForeground', '--vscode-foreground'], 3, '#8c8c8c'],
  logit: [['--vscode-charts-yellow', '--vscode-charts-orange', '--vscode-terminal-ansiYellow', '--vscode-foreground'], 3, '#cca700'],
  supernode: [['--vscode-charts-orange', '--vscode-charts-purple', '--vscode-foreground'], 3, '#d18616'],
  positive: [['--vscode-charts-blue', '--vscode-terminal-ansiBlue', '--vscode-foreground'], 3, '#3794ff'],
  negative: [['--vscode-charts-red', '--vscode-errorForeground', '--vscode-terminal-ansiRed', '--vscode-foreground'], 3, '#f14c4c'],
  pinned: [['--vscode-charts-orange', '--vscode-charts-yellow', '--vscode-foreground'], 3, '#d18616'],
  match: [['--vscode-editorOverviewRuler-findMatchForeground', '--vscode-charts-orange', '--vscode-foreground'], 3, '#d18616'],
  flag: [['--vscode-editorWarning-foreground', '--vscode-list-warningForeground', '--vscode-charts-orange', '--vscode-foreground'], 3, '#cca700'],
};

/** [r, g, b, a] of a CSS colour the browser computed (rgb()/rgba() or #hex), or undefined. */
export function parseColour(c: string): [number, number, number, number] | undefined {
  const s = c.trim();
  let m = /^#([0-9a-f]{3,8})$/i.exec(s);
  if (m) {
    let h = m[1];
    if (h.length === 3 || h.length === 4) h = [...h].map((x) => x + x).join('');
    if (h.length !== 6 && h.length !== 8) return undefined;
    const v = (i: number) => parseInt(h.slice(i, i + 2), 16);
    return [v(0), v(2), v(4), h.length === 8 ? v(6) / 255 : 1];
  }
  m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:[,\s/]+([\d.]+%?))?\s*\)$/i.exec(s);
  if (m) {
    const a = m[4] === undefined ? 1 : m[4].endsWith('%') ? Number(m[4].slice(0, -1)) / 100 : Number(m[4]);
    return [Number(m[1]), Number(m[2]), Number(m[3]), a];
  }
  return undefined;
}

/** A colour with alpha, painted over an opaque background. */
export function over(fg: [number, number, number, number], bg: [number, number, number, number]): [number, number, number, number] {
  const a = fg[3];
  return [fg[0] * a + bg[0] * (1 - a), fg[1] * a + bg[1] * (1 - a), fg[2] * a + bg[2] * (1 - a), 1];
}

export function luminance([r, g, b]: readonly number[]): number {
  const lin = (c: number) => {
    const x = c / 255;
    return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** WCAG contrast ratio of two colours (the first may be translucent: it is painted over the second). */
export function contrast(fg: string, bg: string): number {
  const b = parseColour(bg);
  const f = parseColour(fg);
  if (!b || !f) return 0;
  const l1 = luminance(over(f, b)), l2 = luminance(b);
  return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
}

export function readTheme(el: Element = document.documentElement): Theme {
  const cs = getComputedStyle(el);
  const v = (name: string) => cs.getPropertyValue(name).trim();
  let background = v('--vscode-editor-background') || v('--vscode-sideBar-background') || '#1e1e1e';
  // A translucent background is painted over an opaque one by the workbench; treat it as opaque.
  const pb = parseColour(background);
  if (pb && pb[3] < 1) background = `rgb(${over(pb, [30, 30, 30, 1]).slice(0, 3).map(Math.round).join(',')})`;
  const t = { background, fontFamily: v('--vscode-font-family') || 'sans-serif' } as Theme;
  for (const [role, [names, min, fallback]] of Object.entries(ROLES) as [Role, [string[], number, string]][]) {
    const set = names.map(v).filter((c) => c && parseColour(c));
    t[role] = set.find((c) => contrast(c, background) >= min) ?? set[set.length - 1] ?? fallback;
  }
  return t;
}
