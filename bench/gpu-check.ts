/**
 * The GPU proof (tools/gpu-check.sh runs this as dist/gpu-check.js on a machine with a GPU):
 * every available GPU provider against the CPU on the same inputs — the fixtures, the embedded model and
 * a Gemma-2-2B-sized random-weight Llama-family model — in f32 and f16, then the bench table.
 * Prints one line per check with the measured difference and the tolerance it is held to.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ModelBundle } from '../src/engine/api';
import { loadModelBundle } from '../src/engine/bundle/index';
import { ForwardRunner } from '../src/engine/forward';
import { bundledProviders, onRuntimeMessage, type PrecisionSetting, type ProviderSetting } from '../src/engine/runtime';
import { runBench } from './bench';
import { compareAttribution, gpuChecks, randomLlama, randomTranscoders } from './gpu-check-extra';

const root = resolve(__dirname, '..');
const started = Date.now();
const deadlineArg = process.argv.indexOf('--deadline');
const deadlineS = deadlineArg > 0 ? Number(process.argv[deadlineArg + 1]) : 480;
const timeLeft = () => deadlineS - (Date.now() - started) / 1000;
const cacheDir = mkdtempSync(join(tmpdir(), 'ci-gpu-'));
let failures = 0;

function log(s: string) {
  console.log(s);
}

onRuntimeMessage((m) => log(`  ${m}`));

/** max |a-b| / max |a|: the error relative to the tensor's own scale. */
export function relErr(a: Float32Array, b: Float32Array): number {
  let m = 0, s = 1e-12;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(a[i]));
  }
  return m / s;
}

export function report(name: string, err: number, tol: number, extra = ''): void {
  const ok = err <= tol && Number.isFinite(err);
  if (!ok) failures++;
  log(`${ok ? 'PASS' : 'FAIL'} ${name}: rel err ${err.toExponential(2)} (tol ${tol.toExponential(0)})${extra ? ` ${extra}` : ''}`);
}

async function compareForward(bundle: ModelBundle, label: string, provider: ProviderSetting, precision: PrecisionSetting, T: number): Promise<void> {
  const ids = Array.from({ length: T }, (_, i) => (i * 131 + 7) % bundle.spec.vocabSize);
  if (bundle.spec.bosTokenId !== undefined) ids[0] = bundle.spec.bosTokenId;
  const cpu = await ForwardRunner.create(bundle, { provider: 'cpu', cacheDir });
  const t0 = performance.now();
  const ref = await cpu.run(ids);
  const cpuMs = performance.now() - t0;
  await cpu.dispose();
  const gpu = await ForwardRunner.create(bundle, { provider, precision, cacheDir });
  await gpu.run(ids);
  const t1 = performance.now();
  const got = await gpu.run(ids);
  const gpuMs = performance.now() - t1;
  const p = gpu.provider;
  const prec = gpu.precision;
  await gpu.dispose();
  if (p === 'cpu') {
    log(`SKIP ${label} on ${provider}: fell back to cpu`);
    return;
  }
  // f32 on a GPU differs from CPU only by summation order (~1e-6 relative per op, growing with depth);
  // f16 carries an 11-bit significand, so ~1e-2 of the logit scale after a deep stack is the honest bound.
  const tol = prec === 'f16' ? 3e-2 : 1e-3;
  report(`${label} logits ${p}/${prec} vs cpu/f32 (T=${T})`, relErr(ref.logits.data, got.logits.data), tol, `cpu ${cpuMs.toFixed(1)} ms, ${p} ${gpuMs.toFixed(1)} ms`);
  let worst = 0, worstName = '';
  for (const [name, h] of ref.hooks) {
    const g = got.hooks.get(name);
    if (!g) continue;
    const e = relErr(h.data, g.data);
    if (e > worst) [worst, worstName] = [e, name];
  }
  report(`${label} worst hook ${worstName} ${p}/${prec}`, worst, tol * 3);
  const argmaxAgree = agreeTop1(ref.logits.data, got.logits.data, bundle.spec.vocabSize);
  log(`     top-1 agreement over positions: ${(argmaxAgree * 100).toFixed(1)} %`);
}

function agreeTop1(a: Float32Array, b: Float32Array, V: number): number {
  const T = a.length / V;
  let same = 0;
  for (let t = 0; t < T; t++) {
    let ia = 0, ib = 0;
    for (let v = 1; v < V; v++) {
      if (a[t * V + v] > a[t * V + ia]) ia = v;
      if (b[t * V + v] > b[t * V + ib]) ib = v;
    }
    if (ia === ib) same++;
  }
  return same / T;
}

/** Gemma-2-2B's dimensions (26 layers, d 2304, 8 heads × 256, 4 KV heads, d_mlp 9216, vocab 256000) as a Llama. */
export function gemma2bSizedLlama(): ModelBundle {
  return randomLlama({ d: 2304, L: 26, H: 8, KV: 4, hd: 256, dm: 9216, V: 256000, std: 0.02, name: 'random-gemma2b-size', seed: 1, maxPositions: 8192, bosTokenId: 2, tied: true });
}

async function main(): Promise<void> {
  log('## environment');
  try {
    log(execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], { encoding: 'utf8' }).trim());
  } catch {
    log('nvidia-smi: not found');
  }
  log(`onnxruntime-node providers in this build: ${bundledProviders().join(', ')}`);
  const gpuProviders: ProviderSetting[] = ['webgpu', 'cuda'];
  const fixtures = ['gpt2-tiny', 'llama-tiny', 'gemma2-tiny', 'qwen3-tiny'].map((n) => join(root, 'test/fixtures/models', n));
  // --focus: only the embedded model, the T=64 wide attribution and no bench (a short rerun).
  const focus = process.argv.includes('--focus');
  const models = [...(focus ? [] : fixtures), join(root, 'models/toy-llama')].filter((d) => existsSync(join(d, 'config.json')));
  log('\n## forward: GPU providers vs CPU');
  for (const dir of models) {
    const bundle = await loadModelBundle(dir);
    for (const p of focus ? (['webgpu'] as ProviderSetting[]) : gpuProviders) for (const prec of ['f32', 'f16'] as const) await compareForward(bundle, dir.split('/').pop()!, p, prec, Math.min(48, bundle.spec.maxPositions));
  }
  log('\n## attribution: GPU providers vs CPU');
  const ctx = { root, cacheDir, log, report, relErr, providers: gpuProviders, timeLeft };
  await gpuChecks(ctx, 'toy');
  if (!focus && !process.argv.includes('--no-big') && timeLeft() > 240) {
    log('\n## Gemma-2-2B-sized random-weight Llama (2.6 B parameters)');
    const t0 = performance.now();
    const big = gemma2bSizedLlama();
    log(`generated ${(big.weightBytes / 1e9).toFixed(1)} GB of f32 weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await compareForward(big, 'gemma2b-size', 'webgpu', 'f16', 32);
    await compareForward(big, 'gemma2b-size', 'webgpu', 'f32', 32);
    if (timeLeft() > 150) {
      const ids = Array.from({ length: 48 }, (_, i) => (i === 0 ? 2 : (i * 7919 + 13) % 256000));
      await compareAttribution(ctx, 'gemma2b-size, 2048-feature random transcoders, T=48', big, randomTranscoders(big.spec, 2048, 99), ids, 32, 512);
    }
  }
  await gpuChecks(ctx, 'wide');
  if (!focus && timeLeft() > 60) {
    log('\n## bench');
    await runBench({ root, providers: ['cpu', 'webgpu'], log, sections: process.argv.includes('--quick') ? ['peak'] : ['peak', 'forward'] });
  }
  log(`\n${failures === 0 ? 'ALL CHECKS PASSED' : `${failures} CHECK(S) FAILED`}`);
  process.exit(failures ? 1 : 0);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(2);
  });
}
