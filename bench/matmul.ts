/**
 * The machine's measured matrix-multiply peak, the denominator of every "achieved FLOP/s" ratio.
 * Measured with onnxruntime's own MatMul on the provider under test (what our graphs can reach), and
 * with PyTorch + OpenBLAS on the CPU when Debian's python3-torch is there (what the reference can reach).
 */
import { spawnSync } from 'node:child_process';
import { GraphBuilder } from '../src/engine/onnx/builder';
import { EngineSession, ort, type ProviderSetting } from '../src/engine/runtime';

export interface PeakResult {
  provider: string;
  precision: 'f32' | 'f16';
  n: number;
  gflops: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A chain of `reps` N×N products in one graph, so launch and copy overheads are amortised. */
export async function ortMatmulPeak(provider: ProviderSetting, n: number, precision: 'f32' | 'f16' = 'f32', reps = 8, threads?: number): Promise<PeakResult> {
  const g = new GraphBuilder('peak');
  const a = g.input('a', 'float', [n, n]);
  const w = g.init('w', Float32Array.from({ length: n * n }, (_, i) => (((i * 2654435761) >>> 0) / 2 ** 32 - 0.5) / Math.sqrt(n)), [n, n]);
  let x = a;
  for (let r = 0; r < reps; r++) x = g.op('MatMul', [x, w]);
  g.output(g.op('ReduceSum', [x, g.constI64([0, 1])], {}), 's');
  const session = await EngineSession.create(g.toBytes({ precision }), { provider, threads });
  const feed = { a: new ort.Tensor('float32', new Float32Array(n * n).fill(0.01), [n, n]) };
  await session.run(feed);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await session.run(feed);
    times.push(performance.now() - t0);
  }
  await session.release();
  return { provider: session.provider, precision, n, gflops: (2 * n ** 3 * reps) / (median(times) / 1000) / 1e9 };
}

/** PyTorch's CPU matmul peak (OpenBLAS), or undefined when torch is not installed. */
export function torchMatmulPeak(n = 2048, threads?: number): number | undefined {
  const code = [
    'import torch, time',
    threads ? `torch.set_num_threads(${threads})` : '',
    `n=${n}`,
    'a=torch.randn(n,n); b=torch.randn(n,n); a@b',
    'ts=[]',
    'for _ in range(5):',
    '    t=time.perf_counter(); a@b; ts.append(time.perf_counter()-t)',
    'ts.sort(); print(2*n**3/ts[2]/1e9)',
  ].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', code], { encoding: 'utf8', timeout: 120000 });
  const v = Number(r.stdout?.trim());
  return r.status === 0 && Number.isFinite(v) ? v : undefined;
}
