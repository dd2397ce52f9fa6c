/**
 * `npm run bench` / `circuit-inspector bench`: every speed and memory figure of the project, measured in
 * one run on this machine and reported as ratios against a baseline measured in the same run (the
 * machine's matmul peak, the PyTorch reference, the CPU provider). Nothing here is asserted: tests
 * check correctness, this file reports how fast.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PROVIDER_SETTINGS, type ProviderSetting } from '../src/engine/runtime';
import { benchForward } from './forward';
import { ortMatmulPeak, torchMatmulPeak } from './matmul';
import { formatTable, type BenchRow } from './table';
import { extraSections } from './sections';
import { bigWeightsChild } from './big-weights';

export interface BenchOptions {
  root: string;
  providers: ProviderSetting[];
  threads?: number;
  sections?: string[];
  json?: string;
  log?: (line: string) => void;
}

export async function runBench(o: BenchOptions): Promise<BenchRow[]> {
  const log = o.log ?? ((l: string) => console.log(l));
  const want = (s: string) => !o.sections || o.sections.includes(s);
  const rows: BenchRow[] = [];
  const push = (r: BenchRow[]) => {
    rows.push(...r);
    for (const x of r) log(`  ${x.section} · ${x.name}: ${x.value.toFixed(2)} ${x.unit}${x.provider ? ` [${x.provider}]` : ''}${x.ratio !== undefined ? ` · ratio ${x.ratio.toFixed(3)}${x.ratioLabel ? ` (${x.ratioLabel})` : ''}` : ''}`);
  };
  const peaks = new Map<string, number>();
  if (want('peak')) {
    log('matmul peak…');
    const torch = torchMatmulPeak(2048, o.threads);
    if (torch) {
      peaks.set('torch-cpu', torch);
      push([{ section: 'peak', name: 'PyTorch (OpenBLAS) f32 matmul 2048³', value: torch, unit: 'GFLOP/s', provider: 'cpu' }]);
    }
    for (const p of o.providers) {
      for (const precision of p === 'cpu' ? (['f32'] as const) : (['f32', 'f16'] as const)) {
        const r = await ortMatmulPeak(p, p === 'cpu' ? 1024 : 4096, precision, 8, o.threads);
        peaks.set(`${r.provider}-${precision}`, r.gflops);
        push([{ section: 'peak', name: `onnxruntime ${precision} MatMul ${r.n}³`, value: r.gflops, unit: 'GFLOP/s', provider: r.provider, ratio: torch && r.provider === 'cpu' ? r.gflops / torch : undefined, ratioLabel: torch && r.provider === 'cpu' ? 'vs PyTorch peak' : undefined }]);
      }
    }
  }
  if (want('forward')) {
    for (const p of o.providers) {
      log(`forward on ${p}…`);
      push(await benchForward(o.root, p, o.threads));
    }
  }
  for (const [name, section] of Object.entries(extraSections)) {
    if (!want(name)) continue;
    log(`${name}…`);
    push(await section({ root: o.root, providers: o.providers, threads: o.threads, peaks, log }));
  }
  log('');
  log(formatTable(rows));
  if (o.json) writeFileSync(o.json, JSON.stringify(rows, null, 2));
  return rows;
}

export function parseProviders(s: string | undefined): ProviderSetting[] {
  const list = (s ?? 'cpu').split(',').map((x) => x.trim()).filter(Boolean);
  for (const p of list) {
    if (!PROVIDER_SETTINGS.includes(p as ProviderSetting)) throw new Error(`unknown provider "${p}"; one of ${PROVIDER_SETTINGS.join(', ')}`);
  }
  return list as ProviderSetting[];
}

// Run directly as dist/bench.js (npm run bench). gpu-check.js bundles this file too, hence the name check.
if (require.main === module && /bench\.[jt]s$/.test(process.argv[1] ?? '')) {
  const args = process.argv.slice(2);
  const get = (k: string) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const child = get('child-bigweights');
  if (child) {
    bigWeightsChild(child, get('provider') ?? 'cpu').catch((e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    });
  } else runBench({
    root: resolve(__dirname, '..'),
    providers: parseProviders(get('provider')),
    threads: get('threads') ? Number(get('threads')) : undefined,
    sections: get('sections')?.split(','),
    json: get('json'),
  }).catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
