/**
 * Paints drawing primitives (draw.ts) on a 2D canvas, or writes them as SVG: one list, two outputs,
 * so the exports are the picture on screen. Every string written into SVG goes through escapeXml, and
 * colours through a whitelist: a graph from a stranger cannot put markup into an exported file.
 */
import type { Prim, Shape } from './draw';
import { escapeXml } from './escape';

export function fontOf(size: number, bold: boolean | undefined, family: string): string {
  return `${bold ? '600 ' : ''}${size}px ${family}`;
}

/** Adds one shape to the current path (as its own closed subpath). */
function shapePath(ctx: CanvasRenderingContext2D, shape: Shape, x: number, y: number, w: number, h: number): void {
  switch (shape) {
    case 'ellipse':
      ctx.moveTo(x + w / 2, y);
      ctx.ellipse(x, y, w / 2, h / 2, 0, 0, Math.PI * 2);
      break;
    case 'diamond':
      ctx.moveTo(x, y - h / 2);
      ctx.lineTo(x + w / 2, y);
      ctx.lineTo(x, y + h / 2);
      ctx.lineTo(x - w / 2, y);
      ctx.closePath();
      break;
    case 'hexagon':
      for (let i = 0; i < 6; i++) {
        const px = x + (w / 2) * Math.cos((Math.PI / 3) * i), py = y + (h / 2) * Math.sin((Math.PI / 3) * i);
        if (i === 0) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
      }
      ctx.closePath();
      break;
    case 'round-rectangle':
      ctx.moveTo(x + w / 2, y);
      ctx.roundRect(x - w / 2, y - h / 2, w, h, 4);
      break;
    default:
      ctx.rect(x - w / 2, y - h / 2, w, h);
  }
}

function sameLook(a: Extract<Prim, { t: 'shape' }>, b: Prim): boolean {
  return b.t === 'shape' && b.shape === a.shape && b.fill === a.fill && b.stroke === a.stroke && b.strokeWidth === a.strokeWidth && b.alpha === a.alpha && !!b.dash === !!a.dash;
}

export function paintCanvas(ctx: CanvasRenderingContext2D, prims: readonly Prim[], fontFamily: string): void {
  for (let i = 0; i < prims.length; i++) {
    const p = prims[i];
    switch (p.t) {
      case 'clip':
        ctx.save();
        ctx.beginPath();
        ctx.rect(p.x, p.y, p.w, p.h);
        ctx.clip();
        break;
      case 'unclip':
        ctx.restore();
        break;
      case 'line':
        ctx.globalAlpha = 1;
        ctx.strokeStyle = p.color;
        ctx.lineWidth = p.width;
        ctx.setLineDash(p.dash ? [4, 3] : []);
        ctx.beginPath();
        ctx.moveTo(p.x1, p.y1);
        ctx.lineTo(p.x2, p.y2);
        ctx.stroke();
        ctx.setLineDash([]);
        break;
      case 'segments': {
        ctx.globalAlpha = p.alpha;
        ctx.strokeStyle = p.color;
        ctx.lineWidth = p.width;
        ctx.lineCap = 'round';
        ctx.beginPath();
        const xy = p.xy;
        for (let i = 0; i < xy.length; i += 4) {
          ctx.moveTo(xy[i], xy[i + 1]);
          ctx.lineTo(xy[i + 2], xy[i + 3]);
        }
        ctx.stroke();
        ctx.globalAlpha = 1;
        break;
      }
      case 'shape': {
        // Consecutive shapes that look the same are one path: one fill and one stroke for all of them.
        let j = i + 1;
        while (j < prims.length && sameLook(p, prims[j])) j++;
        ctx.globalAlpha = p.alpha;
        ctx.beginPath();
        for (let k = i; k < j; k++) {
          const q = prims[k] as typeof p;
          shapePath(ctx, q.shape, q.x, q.y, q.w, q.h);
        }
        ctx.fillStyle = p.fill;
        ctx.fill();
        if (p.strokeWidth > 0) {
          ctx.strokeStyle = p.stroke;
          ctx.lineWidth = p.strokeWidth;
          ctx.setLineDash(p.dash ? [3, 2] : []);
          ctx.stroke();
          ctx.setLineDash([]);
        }
        ctx.globalAlpha = 1;
        i = j - 1;
        break;
      }
      case 'text':
        ctx.globalAlpha = 1;
        ctx.fillStyle = p.color;
        ctx.font = fontOf(p.size, p.bold, fontFamily);
        ctx.textAlign = p.align;
        ctx.textBaseline = p.baseline === 'bottom' ? 'alphabetic' : p.baseline;
        if (p.rotate) {
          ctx.save();
          ctx.translate(p.x, p.y);
          ctx.rotate((p.rotate * Math.PI) / 180);
          ctx.fillText(p.text, 0, 0);
          ctx.restore();
        } else ctx.fillText(p.text, p.x, p.baseline === 'bottom' ? p.y - 2 : p.y);
        break;
    }
  }
}

const f = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : 0);
/** Colours come from CSS variables; anything but a plain colour token is replaced. */
export const safeColour = (c: string) => (/^(#[0-9a-fA-F]{3,8}|rgba?\([0-9.,\s%]+\)|[a-zA-Z]+)$/.test(c.trim()) ? c.trim() : '#888888');

function svgShape(p: Extract<Prim, { t: 'shape' }>): string {
  const { x, y, w, h } = p;
  const paint = `fill="${safeColour(p.fill)}"${p.strokeWidth > 0 ? ` stroke="${safeColour(p.stroke)}" stroke-width="${f(p.strokeWidth)}"` : ''}${p.dash ? ' stroke-dasharray="3 2"' : ''}${p.alpha < 1 ? ` opacity="${f(p.alpha)}"` : ''}`;
  switch (p.shape) {
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

export function primsToSvg(prims: readonly Prim[], width: number, height: number, background: string, fontFamily: string): string {
  const parts: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${f(width)} ${f(height)}" width="${f(width)}" height="${f(height)}" font-family="${escapeXml(fontFamily)}">`,
    `<rect x="0" y="0" width="${f(width)}" height="${f(height)}" fill="${safeColour(background)}"/>`,
  ];
  let clips = 0;
  for (const p of prims) {
    switch (p.t) {
      case 'clip':
        clips++;
        parts.push(`<clipPath id="clip${clips}"><rect x="${f(p.x)}" y="${f(p.y)}" width="${f(p.w)}" height="${f(p.h)}"/></clipPath><g clip-path="url(#clip${clips})">`);
        break;
      case 'unclip':
        parts.push('</g>');
        break;
      case 'line':
        parts.push(`<line x1="${f(p.x1)}" y1="${f(p.y1)}" x2="${f(p.x2)}" y2="${f(p.y2)}" stroke="${safeColour(p.color)}" stroke-width="${f(p.width)}"${p.dash ? ' stroke-dasharray="4 3"' : ''}/>`);
        break;
      case 'segments': {
        let d = '';
        for (let i = 0; i < p.xy.length; i += 4) d += `M${f(p.xy[i])} ${f(p.xy[i + 1])}L${f(p.xy[i + 2])} ${f(p.xy[i + 3])}`;
        parts.push(`<path d="${d}" fill="none" stroke="${safeColour(p.color)}" stroke-width="${f(p.width)}" stroke-opacity="${f(p.alpha)}" stroke-linecap="round"/>`);
        break;
      }
      case 'shape':
        parts.push(svgShape(p));
        break;
      case 'text': {
        const anchor = p.align === 'center' ? 'middle' : p.align === 'right' ? 'end' : 'start';
        const base = p.baseline === 'top' ? 'hanging' : p.baseline === 'middle' ? 'central' : 'auto';
        const y = p.baseline === 'bottom' ? p.y - 2 : p.y;
        const rot = p.rotate ? ` transform="rotate(${f(p.rotate)} ${f(p.x)} ${f(y)})"` : '';
        parts.push(
          `<text x="${f(p.x)}" y="${f(y)}" font-size="${f(p.size)}"${p.bold ? ' font-weight="600"' : ''} fill="${safeColour(p.color)}" text-anchor="${anchor}" dominant-baseline="${base}"${rot}${p.role ? ` class="${escapeXml(p.role)}"` : ''}>${escapeXml(p.text)}</text>`,
        );
        break;
      }
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}
