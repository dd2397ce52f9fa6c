/**
 * The editor's figures for `npm run bench` (section "editor"): graph render time in the real viewer
 * page (headless Chromium) for 300 and 3,000 nodes, hover latency from the analysis cache, and the time
 * from Analyze Prompt to the first graph on the embedded model, through the real engine worker.
 * Ratios are against a 60 Hz frame (16.7 ms) and, for the command, against the forward pass alone.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BenchRow } from './table';
import type { TokenInfo } from '../src/engine/api';
import { hoverMarkdown } from '../src/shared/hover-content';
import { tokenAtOffset } from '../src/shared/token-map';
import { RpcClient, type Port } from '../src/worker/rpc-endpoints';
import type { ForwardResult } from '../src/shared/rpc';
import { syntheticGraph } from '../test/unit/webview/sample-graph';
import { launchChromium, serveViewer } from './viewer/standalone';
import { rendererRows } from './renderers';

const FRAME_MS = 1000 / 60;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface EditorBenchContext {
  root: string;
  threads?: number;
  log: (line: string) => void;
}

async function renderTimes(sizes: number[], repeats: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const browser = await launchChromium();
  try {
    for (const n of sizes) {
      const graph = syntheticGraph(n);
      const server = await serveViewer(graph);
      const times: number[] = [];
      try {
        for (let r = 0; r < repeats; r++) {
          const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
          await page.goto(server.url('dark'));
          const el = page.locator('[data-testid="graph-summary"][data-render-ms]');
          await el.waitFor({ state: 'attached', timeout: 120_000 });
          times.push(Number(await el.getAttribute('data-render-ms')));
          await page.close();
        }
      } finally {
        await server.close();
      }
      const ms = median(times);
      rows.push({ section: 'editor', name: `graph render, ${graph.nodes.length} nodes / ${graph.links.length} links (median of ${repeats})`, value: ms, unit: 'ms', ratio: ms / FRAME_MS, ratioLabel: 'of a 60 Hz frame', note: 'headless Chromium, software rendering' });
    }
  } finally {
    await browser.close();
  }
  return rows;
}

function hoverFromCache(): BenchRow {
  // A 512-token analysed prompt with 8 features and 5 predictions per token, as the store keeps it.
  const T = 512;
  const tokens: TokenInfo[] = Array.from({ length: T }, (_, t) => ({ id: t, text: ` w${t}`, start: t * 6, end: t * 6 + 5, special: t === 0 }));
  const forward: ForwardResult = {
    tokens,
    features: tokens.map((_, t) => Array.from({ length: 8 }, (_, k) => ({ layer: k % 16, feature: t * 8 + k, activation: 8 - k, label: `feature label ${k} with some words` }))),
    predictions: tokens.map(() => Array.from({ length: 5 }, (_, k) => ({ token: ` p${k}`, prob: 0.2 - k * 0.02 }))),
  };
  const lens = Array.from({ length: 16 }, (_, l) => ({ layer: l, predictions: [{ token: ' a', prob: 0.3 }, { token: ' b', prob: 0.2 }, { token: ' c', prob: 0.1 }] }));
  const n = 20_000;
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = tokenAtOffset(tokens, 100 + ((i * 37) % (T * 6)), 100);
    if (t >= 0) sink += hoverMarkdown('file:///w/p.prompt', forward, t, lens).length;
  }
  const us = ((performance.now() - t0) / n) * 1000;
  if (sink === 0) throw new Error('hover produced nothing');
  return { section: 'editor', name: 'hover content from the analysis cache (512-token prompt)', value: us, unit: 'µs', ratio: us / 1000 / FRAME_MS, ratioLabel: 'of a 60 Hz frame' };
}

async function commandToGraph(ctx: EditorBenchContext): Promise<BenchRow[]> {
  const embedded = join(ctx.root, 'models', 'toy-llama');
  const hasEmbedded = existsSync(join(embedded, 'config.json')) && existsSync(join(embedded, 'transcoders'));
  const model = hasEmbedded ? embedded : join(ctx.root, 'test/fixtures/models/llama-tiny');
  const transcoders = hasEmbedded ? join(embedded, 'transcoders') : join(ctx.root, 'test/fixtures/transcoders/llama-tiny');
  const which = hasEmbedded ? 'embedded toy-llama' : 'fixture llama-tiny (embedded model not present)';
  const built = join(ctx.root, 'dist', 'engine-worker.js');
  const worker = existsSync(built)
    ? new Worker(built)
    : new Worker(`require(${JSON.stringify(join(ctx.root, 'node_modules/tsx/dist/cjs/index.cjs'))}); require(${JSON.stringify(join(ctx.root, 'src/worker/engine-worker.ts'))});`, { eval: true });
  const client = new RpcClient(worker as unknown as Port);
  const cacheDir = mkdtempSync(join(tmpdir(), 'ci-bench-editor-'));
  const prompt = 'The capital of the state containing Dallas is';
  const settings = { nodeThreshold: 0.8, edgeThreshold: 0.98, maxFeatureNodes: 4096, batchSize: 64, slug: 'bench' };
  try {
    const run = async () => {
      const t0 = performance.now();
      await client.call('loadModel', { modelPath: model, transcoderPath: transcoders, provider: 'cpu', threads: ctx.threads, cacheDir });
      const t1 = performance.now();
      await client.call('forward', { text: prompt });
      const t2 = performance.now();
      const r = await client.call('analyze', { text: prompt, ...settings });
      const t3 = performance.now();
      return { load: t1 - t0, forward: t2 - t1, analyze: t3 - t2, total: t3 - t0, nodes: r.graph.nodes.length };
    };
    const cold = await run();
    // Same worker, new prompt: the model is loaded and its graphs are built; only the analysis runs.
    const t0 = performance.now();
    const f0 = performance.now();
    await client.call('forward', { text: prompt + ' Austin.' });
    const fwd = performance.now() - f0;
    await client.call('analyze', { text: prompt + ' Austin.', ...settings });
    const warm = performance.now() - t0;
    return [
      { section: 'editor', name: `Analyze Prompt → first graph, cold (load + build sessions + forward + attribution), ${which}`, value: cold.total, unit: 'ms', ratio: cold.total / cold.forward, ratioLabel: 'vs the forward pass alone', note: `load ${cold.load.toFixed(0)} ms, attribution ${cold.analyze.toFixed(0)} ms, ${cold.nodes} nodes` },
      { section: 'editor', name: `Analyze Prompt → graph, model loaded, ${which}`, value: warm, unit: 'ms', ratio: warm / fwd, ratioLabel: 'vs the forward pass alone' },
    ];
  } finally {
    client.dispose();
    await worker.terminate();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

export async function benchEditor(ctx: EditorBenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [hoverFromCache()];
  ctx.log('  editor: command → graph through the engine worker…');
  rows.push(...(await commandToGraph(ctx)));
  if (existsSync(join(ctx.root, 'dist', 'webview.js')) && existsSync('/usr/bin/chromium')) {
    ctx.log('  editor: graph render in headless Chromium…');
    rows.push(...(await renderTimes([300], 3)));
    // BENCH_EDITOR_RENDERERS=chosen: the chosen renderer alone (cytoscape takes minutes a step on big graphs).
    const chosenOnly = process.env.BENCH_EDITOR_RENDERERS === 'chosen';
    rows.push(...(await rendererRows(ctx.root, ctx.log, !chosenOnly, chosenOnly ? 'chosen' : undefined)));
  }
  return rows;
}

if (require.main === module && /editor\.[jt]s$/.test(process.argv[1] ?? "")) {
  void benchEditor({ root: join(__dirname, '../..'), threads: 1, log: console.log }).then((rows) => {
    for (const r of rows) console.log(`${r.name}: ${r.value.toFixed(2)} ${r.unit}${r.ratio !== undefined ? ` (${r.ratio.toFixed(3)} ${r.ratioLabel})` : ''}${r.note ? ` — ${r.note}` : ''}`);
  });
}
