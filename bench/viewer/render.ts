/**
 * Renders the graph viewer standalone in headless Chromium and saves screenshots (dark / light themes,
 * a wide and a side-bar-narrow panel, before and after steering), plus a report of what the page
 * posted and whether any script from the graph's hostile label ran:
 * `node esbuild.mjs && npx tsx bench/viewer/render.ts OUT_DIR [GRAPH.json]`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sampleGraph } from '../../test/unit/webview/sample-graph';
import { launchChromium, serveViewer } from './standalone';

const out = resolve(process.argv[2] ?? 'test-results/webview');
mkdirSync(out, { recursive: true });

async function main() {
  // A graph file to render instead of the built-in sample (e.g. one made by circuit-tracer).
  const graph = process.argv[3] ? JSON.parse(readFileSync(process.argv[3], 'utf8')) : sampleGraph();
  const server = await serveViewer(graph);
  const browser = await launchChromium();
  const report: Record<string, unknown> = {};
  try {
    for (const [theme, width] of [['dark', 900], ['light', 900], ['dark', 320]] as const) {
      const page = await browser.newPage({ viewport: { width, height: 900 } });
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(server.url(theme));
      await page.waitForSelector('[data-testid=graph-summary][data-nodes]');
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(out, `graph-${theme}-${width}.png`) });
      // Click the first feature in the node list: details, card and steering.
      await page.click('[data-testid=node-list-section]');
      await page.click('[data-testid=node-row][data-kind=feature]');
      await page.waitForSelector('[data-testid=feature-example]');
      await page.click('[data-testid=steer-button]');
      await page.waitForSelector('[data-testid=steer-result]');
      await page.screenshot({ path: join(out, `graph-${theme}-${width}-steer.png`) });
      // Pin the selected node, group it, show the pinned subgraph, search, prune, export.
      await page.click('[data-testid=graph-pin]');
      await page.click('[data-testid=graph-group]');
      await page.fill('[data-testid=group-label] >> input', 'Texas group');
      await page.click('[data-testid=group-ok]');
      await page.click('[data-testid=graph-pinned-only]');
      const pinnedOnly = await page.getAttribute('[data-testid=graph-summary]', 'data-nodes');
      await page.click('[data-testid=graph-pinned-only]');
      await page.fill('[data-testid=graph-search] >> input', 'texas');
      const found = await page.textContent('[data-testid=graph-search-count]');
      await page.fill('[data-testid=graph-search] >> input', '');
      await page.fill('[data-testid=graph-threshold]', '0.3');
      await page.dispatchEvent('[data-testid=graph-threshold]', 'change');
      const pruned = await page.getAttribute('[data-testid=graph-summary]', 'data-nodes');
      for (const f of ['png', 'svg', 'json']) await page.click(`[data-testid=graph-export-${f}]`);
      await page.waitForTimeout(300);
      const exports = await page.evaluate(() =>
        (window as unknown as { __posted: { type: string; format?: string; data?: string }[] }).__posted
          .filter((m) => m.type === 'export')
          .map((m) => ({ format: m.format, bytes: m.data?.length ?? 0, head: (m.data ?? '').slice(0, 40), supernodes: m.format === 'json' ? JSON.parse(m.data!).qParams.supernodes : undefined })),
      );
      await page.screenshot({ path: join(out, `graph-${theme}-${width}-pruned.png`) });
      report[`${theme}-${width}`] = {
        pinnedOnly,
        found,
        pruned,
        exports,
        summary: await page.getAttribute('[data-testid=graph-summary]', 'data-nodes'),
        pwned: await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? 0),
        posted: await page.evaluate(() => (window as unknown as { __posted: { type: string }[] }).__posted.map((m) => m.type)),
        errors,
      };
      await page.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
  writeFileSync(join(out, 'report.json'), JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
