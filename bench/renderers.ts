/**
 * The graph renderers side by side in headless Chromium (part of the "editor" section): the viewer's
 * canvas renderer (level of detail: each node's strongest edges at rest, the rest on hover/selection)
 * against the cytoscape renderer it replaced (bench/cytoscape/, the same code the viewer ran before)
 * and cytoscape's WebGL mode. For each graph size: first frame, frame time while zooming (one wheel
 * step per frame), and a re-prune step (threshold 1 → 0.5 shown). Chromium runs with --disable-gpu,
 * so every renderer is on the CPU (software canvas; WebGL through SwiftShader where it starts at all).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { BenchRow } from './table';
import { syntheticGraph } from '../test/unit/webview/sample-graph';
import { launchChromium, serveViewer } from './viewer/standalone';

const FRAME_MS = 1000 / 60;
const STEPS = 20;

interface Figures {
  firstMs: number;
  zoomMs: number;
  pruneMs: number;
  /** Median of clicks on nodes (and one on the canvas) until the frame that shows the selection: the viewer only. */
  clickMs?: number;
  note?: string;
}

async function viewerFigures(browser: Browser, graph: unknown): Promise<Figures> {
  const server = await serveViewer(graph);
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  try {
    await page.goto(server.url('dark'), { timeout: 300_000 });
    const el = page.locator('[data-testid="graph-summary"][data-render-ms]');
    await el.waitFor({ state: 'attached', timeout: 300_000 });
    const firstMs = Number(await el.getAttribute('data-render-ms'));
    return {
      firstMs,
      // A string, not a function: tsx (keepNames) would wrap the function's inner arrows in a helper
      // that does not exist in the page.
      ...((await page.evaluate(`(async (steps) => {
        const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
        const canvas = document.querySelector('#graph canvas');
        const r = canvas.getBoundingClientRect();
        await frame();
        const t1 = performance.now();
        for (let i = 0; i < steps; i++) {
          canvas.dispatchEvent(new WheelEvent('wheel', { deltaY: i % 2 ? 90 : -90, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true, cancelable: true }));
          await frame();
        }
        const zoomMs = (performance.now() - t1) / steps;
        // A click on a node, as a user makes it (the node list's row: the same select action as a click on
        // its shape), until the frame that shows it selected with its card; then a click on the canvas.
        const rows = Array.from(document.querySelectorAll('[data-testid="node-row"][data-kind="feature"]'));
        const clicks = [];
        for (const row of rows.slice(0, 5)) {
          const t = performance.now();
          row.click();
          await frame();
          await frame();
          clicks.push(performance.now() - t);
        }
        const t3 = performance.now();
        canvas.dispatchEvent(new MouseEvent('pointerdown', { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true }));
        canvas.dispatchEvent(new MouseEvent('pointerup', { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true }));
        canvas.dispatchEvent(new MouseEvent('click', { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true }));
        await frame();
        await frame();
        clicks.push(performance.now() - t3);
        clicks.sort((a, b) => a - b);
        const clickMs = clicks[Math.floor(clicks.length / 2)];
        const slider = document.getElementById('threshold');
        const t2 = performance.now();
        slider.value = '0.5';
        slider.dispatchEvent(new Event('change'));
        await frame();
        await frame();
        return { zoomMs, clickMs, pruneMs: performance.now() - t2 };
      })(${STEPS})`)) as { zoomMs: number; clickMs: number; pruneMs: number }),
    };
  } finally {
    await page.close();
    await server.close();
  }
}

async function cytoscapeFigures(browser: Browser, root: string, graph: unknown, webgl: boolean): Promise<Figures> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  try {
    await page.setContent('<!DOCTYPE html><html><body style="margin:0;background:#1e1e1e"><div id="graph" style="position:absolute;inset:0"></div></body></html>');
    await page.addScriptTag({ path: join(root, 'dist', 'bench-cytoscape.js') });
    const r = await page.evaluate(
      ([g, webgl, steps]) => (window as unknown as { cytoscapeBench: { run(g: unknown, w: boolean, s: number): Promise<Figures & { version: string }> } }).cytoscapeBench.run(g, webgl as boolean, steps as number),
      [graph, webgl, STEPS] as const,
    );
    return { firstMs: r.firstMs, zoomMs: r.zoomMs, pruneMs: r.pruneMs, note: `cytoscape ${r.version}` };
  } finally {
    await page.close();
  }
}

/** `full`: cytoscape also on the two big graphs (minutes a step on a loaded machine). */
export async function rendererRows(root: string, log: (s: string) => void, full = true, only?: string): Promise<BenchRow[]> {
  if (!existsSync(join(root, 'dist', 'webview.js')) || !existsSync(join(root, 'dist', 'bench-cytoscape.js')) || !existsSync('/usr/bin/chromium')) return [];
  const cases: [string, () => unknown][] = [
    ['868 nodes / ~169k links (a realistic pruned graph)', () => syntheticGraph(868, 64, 12, 210)],
    ['3,000 nodes / ~30k links', () => syntheticGraph(3000, 40, 16, 10)],
    ['20,000 nodes / ~200k links', () => syntheticGraph(20_000, 64, 16, 10)],
    // Near the panel's limit (GRAPH_LIMITS: 100,000 nodes): the goal is clicks answered within 100 ms.
    ['90,000 nodes / ~300k links', () => syntheticGraph(90_000, 64, 16, 3)],
  ];
  const rows: BenchRow[] = [];
  const browser = await launchChromium();
  try {
    for (const [name, make] of cases) {
      const graph = make();
      const runs: [string, () => Promise<Figures>][] = [
        ['canvas renderer (chosen)', () => viewerFigures(browser, graph)],
        ['cytoscape canvas (before)', () => cytoscapeFigures(browser, root, graph, false)],
        ['cytoscape WebGL', () => cytoscapeFigures(browser, root, graph, true)],
      ];
      for (const [who, run] of runs) {
        if (!full && who !== 'canvas renderer (chosen)' && !name.startsWith('3,000')) continue;
        if (name.startsWith('90,000') && who !== 'canvas renderer (chosen)') continue; // cytoscape: hours
        if (only && !who.includes(only)) continue;
        log(`  editor: ${who}, ${name}…`);
        let f: Figures;
        try {
          f = await run();
        } catch (e) {
          log(`    failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
          continue;
        }
        const note = `${f.note ? f.note + '; ' : ''}headless Chromium, --disable-gpu`;
        rows.push(
          { section: 'editor', name: `${who}: first frame, ${name}`, value: f.firstMs, unit: 'ms', ratio: f.firstMs / FRAME_MS, ratioLabel: 'of a 60 Hz frame', note },
          { section: 'editor', name: `${who}: zoom, one wheel step per frame, ${name}`, value: 1000 / f.zoomMs, unit: 'frames/s', ratio: f.zoomMs / FRAME_MS, ratioLabel: 'frame time / 60 Hz frame', note },
          { section: 'editor', name: `${who}: re-prune step (threshold 1 → 0.5 drawn), ${name}`, value: f.pruneMs, unit: 'ms', ratio: f.pruneMs / FRAME_MS, ratioLabel: 'of a 60 Hz frame', note },
        );
        if (f.clickMs !== undefined) rows.push({ section: 'editor', name: `${who}: click → selection drawn (median of 6), ${name}`, value: f.clickMs, unit: 'ms', ratio: f.clickMs / 100, ratioLabel: 'of the 100 ms goal', note });
      }
    }
  } finally {
    await browser.close();
  }
  return rows;
}
