/**
 * Runs the engine's forward (loadModelBundle + ForwardRunner) on given token ids and writes every hook
 * and the logits as an F32 safetensors file with the same names forward_ref.py writes, so
 * check_hf.py can compare the engine, the reference and Hugging Face `transformers` tensor by tensor.
 *
 *   node --import tsx tools/reference/engine_forward.ts --model DIR --ids 1,2,3 --out FILE.safetensors
 *        [--provider cpu|cuda|webgpu|auto] [--threads N] [--mlp-out-delta FILE.f32]
 *
 * --mlp-out-delta: raw little-endian float32, [nLayers, T, d_model].
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelBundle } from '../../src/engine/bundle/index';
import { ForwardRunner } from '../../src/engine/forward';
import type { HookTensor } from '../../src/engine/api';
import type { ProviderSetting } from '../../src/engine/runtime';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function writeF32Safetensors(path: string, tensors: [string, HookTensor][]): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const body = tensors.map(([, t]) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  writeFileSync(path, Buffer.concat([len, json, ...body]));
}

async function main(): Promise<void> {
  const model = arg('model');
  const idsArg = arg('ids');
  const out = arg('out');
  if (!model || !idsArg || !out) {
    console.error('usage: engine_forward.ts --model DIR --ids 1,2,3 --out FILE.safetensors [--provider P] [--threads N] [--mlp-out-delta FILE]');
    process.exit(2);
  }
  const ids = idsArg.split(',').filter((s) => s.trim()).map(Number);
  const bundle = await loadModelBundle(model);
  const provider = (arg('provider') ?? 'cpu') as ProviderSetting;
  const threads = Number(arg('threads') ?? '1');
  const runner = await ForwardRunner.create(bundle, { provider, threads, cacheDir: join(tmpdir(), 'circuit-inspector-check-hf') });
  const deltaPath = arg('mlp-out-delta');
  const mlpOutDelta = deltaPath ? new Float32Array(new Uint8Array(readFileSync(deltaPath)).buffer) : undefined;
  const cache = await runner.run(ids, { mlpOutDelta });
  const tensors: [string, HookTensor][] = [...cache.hooks.entries()].filter(([name]) => name !== 'logits');
  tensors.push(['logits', cache.logits]);
  writeF32Safetensors(out, tensors);
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exit(1);
});
