/**
 * Screenshots of real graphs written by circuit-tracer / Neuronpedia (Gemma-2-2B) as the panel draws them,
 * at rest and with the top logit selected (its inputs drawn bright, the connections list open), in dark
 * and light themes, so that a reader can check by eye whether the circuit can be followed from token to
 * logit: `node esbuild.mjs && npx tsx bench/viewer/interop-shots.ts OUT_DIR GRAPH.json [GRAPH.json …]`.
 * Each file goes through the engine's reader first (validated, ids mapped), as in the custom editor.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseGraphFile } from '../../src/engine/graph-file';
import { launchChromium, serveViewer } from './standalone';

async function main(): Promise<void> {
  const [outArg, ...files] = process.argv.slice(2);
  if (!outArg || !files.length) throw new Error('usage: interop-shots.ts OUT_DIR GRAPH.json [GRAPH.json …]');
  const out = resolve(outArg);
  mkdirSync(out, { recursive: true });
  const browser = await launchChromium();
  const report: Record<string, unknown> = {};
  try {
    for (const file of files) {
      const name = basename(file).replace(/\.json$/, '');
      const graph = parseGraphFile(readFileSync(file));
      const server = await serveViewer(graph, name);
      try {
        for (const theme of ['dark', 'light']) {
          const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
          const errors: string[] = [];
          page.on('pageerror', (e) => errors.push(String(e)));
          await page.goto(server.url(theme));
          await page.waitForSelector('[data-testid=graph-summary][data-nodes]', { timeout: 120_000 });
          await page.waitForTimeout(500);
          await page.screenshot({ path: join(out, `${name}-${theme}.png`) });
          // The most probable logit, selected from the node list: its inputs light up and are labelled.
          await page.click('[data-testid=node-list-section] summary');
          await page.click('[data-testid=node-row][data-kind=logit]');
          await page.waitForTimeout(500);
          await page.screenshot({ path: join(out, `${name}-${theme}-top-logit.png`) });
          report[`${name}-${theme}`] = {
            summary: await page.textContent('[data-testid=graph-summary]'),
            selected: await page.textContent('[data-testid=feature-card-label]').catch(() => null),
            errors,
          };
          await page.close();
        }
      } finally {
        await server.close();
      }
    }
  } finally {
    await browser.close();
  }
  writeFileSync(join(out, 'interop-report.json'), JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
