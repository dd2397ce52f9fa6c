/**
 * SVG export of what the graph shows, drawn from node positions and the resolved theme colours.
 * Every label goes through escapeXml: a graph from a stranger must not be able to put markup (or
 * script) into the exported file.
 */
import { escapeXml } from './escape';

export interface SvgNode {
  x: number;
  y: number;
  w: number;
  h: number;
  shape: 'ellipse' | 'rectangle' | 'diamond' | 'round-rectangle' | 'hexagon';
  fill: string;
  stroke: string;
  label: string;
}

export interface SvgEdge {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  color: string;
  width: number;
}

export interface SvgScene {
  nodes: SvgNode[];
  edges: SvgEdge[];
  background: string;
  foreground: string;
  fontFamily: string;
}

const f = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : 0);
/** Colours come from CSS variables; anything but a plain colour token is replaced. */
const colour = (c: string) => (/^(#[0-9a-fA-F]{3,8}|rgba?\([0-9.,\s%]+\)|[a-zA-Z]+)$/.test(c.trim()) ? c.trim() : '#888888');

function shape(n: SvgNode): string {
  const { x, y, w, h } = n;
  const paint = `fill="${colour(n.fill)}" stroke="${colour(n.stroke)}" stroke-width="1"`;
  switch (n.shape) {
    case 'ellipse':
      return `<ellipse cx="${f(x)}" cy="${f(y)}" rx="${f(w / 2)}" ry="${f(h / 2)}" ${paint}/>`;
    case 'diamond':
      return `<polygon points="${f(x)},${f(y - h / 2)} ${f(x + w / 2)},${f(y)} ${f(x)},${f(y + h / 2)} ${f(x - w / 2)},${f(y)}" ${paint}/>`;
    case 'hexagon': {
      const pts = [0, 1, 2, 3, 4, 5].map((i) => `${f(x + (w / 2) * Math.cos((Math.PI / 3) * i))},${f(y + (h / 2) * Math.sin((Math.PI / 3) * i))}`);
      return `<polygon points="${pts.join(' ')}" ${paint}/>`;
    }
    case 'round-rectangle':
      return `<rect x="${f(x - w / 2)}" y="${f(y - h / 2)}" width="${f(w)}" height="${f(h)}" rx="4" ${paint}/>`;
    default:
      return `<rect x="${f(x - w / 2)}" y="${f(y - h / 2)}" width="${f(w)}" height="${f(h)}" ${paint}/>`;
  }
}

export function sceneToSvg(s: SvgScene): string {
  const xs = s.nodes.flatMap((n) => [n.x - n.w / 2, n.x + n.w / 2]);
  const ys = s.nodes.flatMap((n) => [n.y - n.h / 2, n.y + n.h / 2 + 16]);
  const pad = 20;
  const minX = (xs.length ? Math.min(...xs) : 0) - pad;
  const minY = (ys.length ? Math.min(...ys) : 0) - pad;
  const w = (xs.length ? Math.max(...xs) : 100) - minX + pad;
  const h = (ys.length ? Math.max(...ys) : 100) - minY + pad;
  const parts: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${f(minX)} ${f(minY)} ${f(w)} ${f(h)}" width="${f(w)}" height="${f(h)}">`,
    `<rect x="${f(minX)}" y="${f(minY)}" width="${f(w)}" height="${f(h)}" fill="${colour(s.background)}"/>`,
    `<g stroke-linecap="round">`,
  ];
  for (const e of s.edges) {
    parts.push(`<line x1="${f(e.x1)}" y1="${f(e.y1)}" x2="${f(e.x2)}" y2="${f(e.y2)}" stroke="${colour(e.color)}" stroke-width="${f(e.width)}" stroke-opacity="0.7"/>`);
  }
  parts.push(`</g><g>`);
  for (const n of s.nodes) parts.push(shape(n));
  parts.push(`</g><g font-size="9" text-anchor="middle" fill="${colour(s.foreground)}" font-family="${escapeXml(s.fontFamily)}">`);
  for (const n of s.nodes) {
    if (n.label) parts.push(`<text x="${f(n.x)}" y="${f(n.y + n.h / 2 + 11)}">${escapeXml(n.label)}</text>`);
  }
  parts.push(`</g></svg>`);
  return parts.join('\n');
}
