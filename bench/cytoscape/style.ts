/**
 * (Bench only: the viewer's cytoscape renderer before the canvas renderer, kept to measure against.)
 * Colours from the VS Code theme (`--vscode-*` CSS variables), read at run time: cytoscape draws on a
 * canvas, so CSS cannot reach it; the view re-reads these and restyles when the theme changes.
 */
import type { StylesheetJson } from 'cytoscape';

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
  positive: string;
  negative: string;
  pinned: string;
  match: string;
  fontFamily: string;
}

const VARS: Record<keyof Theme, [string, string]> = {
  background: ['--vscode-editor-background', '#1e1e1e'],
  foreground: ['--vscode-editor-foreground', '#d4d4d4'],
  muted: ['--vscode-descriptionForeground', '#9d9d9d'],
  border: ['--vscode-panel-border', '#80808059'],
  focus: ['--vscode-focusBorder', '#007fd4'],
  embedding: ['--vscode-charts-green', '#89d185'],
  feature: ['--vscode-charts-purple', '#b180d7'],
  error: ['--vscode-disabledForeground', '#8c8c8c'],
  logit: ['--vscode-charts-yellow', '#cca700'],
  positive: ['--vscode-charts-blue', '#3794ff'],
  negative: ['--vscode-charts-red', '#f14c4c'],
  pinned: ['--vscode-charts-orange', '#d18616'],
  match: ['--vscode-editor-findMatchHighlightBackground', '#ea5c0055'],
  fontFamily: ['--vscode-font-family', 'sans-serif'],
};

export function readTheme(el: Element = document.documentElement): Theme {
  const cs = getComputedStyle(el);
  const t = {} as Theme;
  for (const [k, [v, dflt]] of Object.entries(VARS) as [keyof Theme, [string, string]][]) {
    t[k] = cs.getPropertyValue(v).trim() || dflt;
  }
  return t;
}

/** Node size per kind (also used by the SVG export). */
export const NODE_SIZE = { embedding: [26, 16], feature: [16, 16], error: [14, 14], logit: [30, 18] } as const;
export const NODE_SHAPE = { embedding: 'rectangle', feature: 'ellipse', error: 'diamond', logit: 'hexagon' } as const;

/**
 * Label size in model units for a zoom level: about 8 screen pixels whatever the zoom (within limits),
 * so a graph fitted small into a side bar still has readable (if shortened) labels.
 */
export function labelSize(zoom: number): number {
  return Math.max(7, Math.min(28, 8 / Math.max(zoom, 1e-3)));
}

/** Node size factor for a zoom level: nodes grow a little when the graph is fitted small. */
export function nodeScale(zoom: number): number {
  return Math.max(1, Math.min(1.8, 0.7 / Math.max(zoom, 1e-3)));
}

/**
 * `large`: haystack edges without arrows. `hideFeatureLabels`: feature / error labels only on hover,
 * selection, pins and search hits (when nodes sit too close on screen for their labels to be read).
 */
export function graphStyle(t: Theme, large: boolean, fontSize = 7, scale = 1, hideFeatureLabels = large): StylesheetJson {
  return [
    {
      selector: 'node',
      style: {
        label: 'data(label)',
        color: t.foreground,
        'font-size': fontSize,
        'font-family': t.fontFamily,
        'text-valign': 'bottom',
        'text-margin-y': 2,
        'text-max-width': '56px',
        'text-wrap': 'ellipsis',
        'min-zoomed-font-size': 5,
        'border-width': 1,
        'border-color': t.background,
      },
    },
    ...(['embedding', 'feature', 'error', 'logit'] as const).map((k) => ({
      selector: `node.${k}`,
      style: {
        shape: NODE_SHAPE[k],
        width: NODE_SIZE[k][0] * scale,
        height: NODE_SIZE[k][1] * scale,
        'background-color': t[k],
      },
    })),
    {
      selector: 'node.axis',
      style: { shape: 'rectangle', width: 2, height: 2, 'background-opacity': 0, 'border-width': 0, color: t.muted, events: 'no' },
    },
    {
      selector: 'node.supernode',
      style: {
        shape: 'round-rectangle',
        'background-color': t.feature,
        'background-opacity': 0.12,
        'border-color': t.feature,
        'border-width': 1.5,
        'border-style': 'dashed',
        label: 'data(label)',
        'text-valign': 'top',
        'font-size': fontSize * 1.25,
        'font-weight': 'bold',
        'text-max-width': '400px',
        padding: '8px',
      },
    },
    // On large graphs feature / error labels would be an unreadable smear and cost seconds to lay out:
    // they show on hover and selection (the card says the rest).
    ...(hideFeatureLabels ? [{ selector: 'node.feature, node.error', style: { label: '' } }, { selector: 'node.feature:selected, node.feature.pinned, node.feature.match', style: { label: 'data(label)' } }] : []),
    { selector: 'node.pinned', style: { 'border-color': t.pinned, 'border-width': 3 } },
    { selector: 'node.match', style: { 'overlay-color': t.pinned, 'overlay-opacity': 0.35, 'overlay-padding': 4 } },
    { selector: 'node:selected', style: { 'border-color': t.focus, 'border-width': 3 } },
    { selector: '.faded', style: { opacity: 0.2 } },
    {
      selector: 'edge',
      style: {
        width: 'data(width)',
        'curve-style': large ? 'haystack' : 'straight',
        opacity: 0.55,
        ...(large ? {} : { 'target-arrow-shape': 'triangle', 'arrow-scale': 0.5 }),
      },
    },
    { selector: 'edge.pos', style: { 'line-color': t.positive, 'target-arrow-color': t.positive } },
    { selector: 'edge.neg', style: { 'line-color': t.negative, 'target-arrow-color': t.negative } },
    { selector: 'edge.hl', style: { opacity: 1, 'z-index': 10 } },
  ];
}
