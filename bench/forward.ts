/** Forward-pass figures: graph build time, session creation, and run time per model and provider. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelBundle } from '../src/engine/bundle/index';
import { ForwardRunner } from '../src/engine/forward';
import type { ProviderSetting } from '../src/engine/runtime';
import type { BenchRow } from './table';

export async function benchForward(root: string, provider: ProviderSetting, threads?: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const models = [
    ...['gpt2-tiny', 'llama-tiny', 'gemma2-tiny', 'qwen3-tiny'].map((n) => join(root, 'test/fixtures/models', n)),
    join(root, 'models/toy-llama'),
  ].filter((d) => existsSync(join(d, 'config.json')));
  for (const dir of models) {
    const bundle = await loadModelBundle(dir);
    const cacheDir = mkdtempSync(join(tmpdir(), 'ci-bench-'));
    try {
      const runner = await ForwardRunner.create(bundle, { provider, threads, cacheDir });
      const T = Math.min(64, bundle.spec.maxPositions);
      const ids = Array.from({ length: T }, (_, i) => (i * 7 + 3) % bundle.spec.vocabSize);
      await runner.run(ids);
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t0 = performance.now();
        await runner.run(ids);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const name = dir.split('/').slice(-1)[0];
      rows.push({ section: 'forward', name: `${name}: ONNX build`, value: runner.timings.buildMs, unit: 'ms', provider: runner.provider });
      rows.push({ section: 'forward', name: `${name}: session create`, value: runner.timings.sessionMs, unit: 'ms', provider: runner.provider });
      rows.push({ section: 'forward', name: `${name}: forward, ${T} tokens, all hooks (median of 7)`, value: times[3], unit: 'ms', provider: runner.provider });
      await runner.dispose();
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
  return rows;
}
