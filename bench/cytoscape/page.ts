/**
 * (Bench only.) The graph drawn the way the viewer drew it before the canvas renderer: cytoscape's
 * canvas, a preset layered layout stretched to the panel, the same stylesheet. `window.cytoscapeBench`
 * measures first frame, a zoom step and a re-prune, for bench/editor.ts to print beside the viewer's.
 * `?webgl=1` turns on cytoscape's WebGL renderer (cytoscape ≥ 3.31, `renderer: { webgl: true }`).
 */
import cytoscape from 'cytoscape';
import { normalizeGraph } from '../../webview/graph-model';
import { visibleElements } from '../../webview/prune';
import { toElements } from './elements';
import { fitAspect, layeredLayout } from './layout';
import { graphStyle, readTheme } from './style';

const frame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));

async function first(raw: unknown, webgl: boolean) {
  const t0 = performance.now();
  const g = normalizeGraph(raw);
  const box = document.getElementById('graph')!.getBoundingClientRect();
  const pos = fitAspect(layeredLayout(g.nodes, g.nLayers, undefined, g.promptTokens.length), box.width, box.height, 4);
  const vis = visibleElements(g, 1, new Set(), false);
  const large = vis.links.length > 4000 || vis.nodes.size > 1500;
  const cy = cytoscape({
    container: document.getElementById('graph'),
    style: graphStyle(readTheme(), large),
    elements: toElements(g, pos, vis, new Set(), []),
    layout: { name: 'preset' },
    ...(webgl ? { renderer: { name: 'canvas', webgl: true } } : {}),
  } as cytoscape.CytoscapeOptions);
  cy.fit(undefined, 24);
  await frame();
  await frame();
  const firstMs = performance.now() - t0;
  return { cy, g, pos, firstMs };
}

(window as unknown as { cytoscapeBench: unknown }).cytoscapeBench = {
  async run(raw: unknown, webgl: boolean, steps: number) {
    const { cy, g, pos, firstMs } = await first(raw, webgl);
    // Pan/zoom: one wheel-sized zoom step per frame, around the centre.
    const c = { x: cy.width() / 2, y: cy.height() / 2 };
    const t1 = performance.now();
    for (let i = 0; i < steps; i++) {
      cy.zoom({ level: cy.zoom() * (i % 2 ? 1 / 1.15 : 1.15), renderedPosition: c });
      await frame();
    }
    const zoomMs = (performance.now() - t1) / steps;
    // A prune step as the viewer did it: every element removed and the visible ones added again.
    const t2 = performance.now();
    const vis = visibleElements(g, 0.5, new Set(), false);
    cy.batch(() => {
      cy.elements().remove();
      cy.add(toElements(g, pos, vis, new Set(), []));
    });
    await frame();
    await frame();
    const pruneMs = performance.now() - t2;
    return { firstMs, zoomMs, pruneMs, version: (cytoscape as unknown as { version: string }).version };
  },
};
