/**
 * Big weights: a 1B-parameter random-weight Llama checkpoint written as bf16 safetensors (as real
 * checkpoints ship), loaded by the engine and run once in a fresh process; reports peak resident memory
 * divided by the checkpoint's bytes on disk. One copy of f32 weights is 2× the bf16 file; a loader that
 * held two copies would show ≥ 4×.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelBundle } from '../src/engine/bundle/index';
import { ForwardRunner } from '../src/engine/forward';
import type { BenchRow } from './table';
import type { SectionContext } from './table';

interface Shape {
  name: string;
  shape: number[];
}

/** Llama-3.2-1B's dimensions with a 32k vocabulary: 1.1 B parameters. */
const CFG = { d: 2048, L: 16, H: 32, KV: 8, hd: 64, dm: 8192, V: 32000 };

function tensorList(): Shape[] {
  const { d, L, H, KV, hd, dm, V } = CFG;
  const t: Shape[] = [{ name: 'model.embed_tokens.weight', shape: [V, d] }];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    t.push(
      { name: `${p}.input_layernorm.weight`, shape: [d] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [H * hd, d] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [KV * hd, d] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [KV * hd, d] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [d, H * hd] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [d] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [dm, d] },
      { name: `${p}.mlp.up_proj.weight`, shape: [dm, d] },
      { name: `${p}.mlp.down_proj.weight`, shape: [d, dm] },
    );
  }
  t.push({ name: 'model.norm.weight', shape: [d] }, { name: 'lm_head.weight', shape: [V, d] });
  return t;
}

/** Streams a bf16 safetensors file tensor by tensor, so writing it never holds more than one tensor. */
function writeRandomCheckpoint(dir: string): number {
  const tensors = tensorList();
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * 2;
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json));
    let s = 12345;
    for (const t of tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const isNorm = t.shape.length === 1;
      const u16 = new Uint16Array(n);
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      for (let i = 0; i < n; i++) {
        s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
        f[0] = isNorm ? 1 : ((s / 4294967296) - 0.5) * 0.04;
        u16[i] = u[0] >>> 16;
      }
      writeSync(fd, new Uint8Array(u16.buffer));
    }
  } finally {
    closeSync(fd);
  }
  const { d, L, H, KV, hd, dm, V } = CFG;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', vocab_size: V, hidden_size: d,
    intermediate_size: dm, num_hidden_layers: L, num_attention_heads: H, num_key_value_heads: KV, head_dim: hd,
    max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: false, torch_dtype: 'bfloat16',
  }));
  return 8 + json.length + off;
}

export async function benchBigWeights(ctx: SectionContext): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ci-1b-'));
  try {
    const t0 = performance.now();
    const bytes = writeRandomCheckpoint(dir);
    // Any tokenizer whose ids fit the vocabulary will do: the run feeds ids directly.
    copyFileSync(join(ctx.root, 'test/fixtures/models/llama-tiny/tokenizer.json'), join(dir, 'tokenizer.json'));
    ctx.log(`  wrote a ${(bytes / 1e9).toFixed(2)} GB bf16 checkpoint in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const rows: BenchRow[] = [];
    for (const provider of ctx.providers) {
      const r = spawnSync(process.execPath, ['--max-old-space-size=16384', join(ctx.root, 'dist/bench.js'), '--child-bigweights', dir, '--provider', provider], { encoding: 'utf8', timeout: 900000 });
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      if (r.status !== 0 || !line) {
        rows.push({ section: 'big weights', name: '1.1B llama bf16: load + forward', value: NaN, unit: '', provider, note: `failed: ${(r.stderr || r.stdout).split('\n').slice(-3).join(' ')}` });
        continue;
      }
      const m = JSON.parse(line) as { maxRssBytes: number; loadMs: number; createMs: number; forwardMs: number; provider: string };
      rows.push(
        { section: 'big weights', name: '1.1B llama bf16: peak RSS / checkpoint bytes', value: m.maxRssBytes / 1e9, unit: 'GB peak', provider: m.provider, ratio: m.maxRssBytes / bytes, ratioLabel: 'peak RSS / weight bytes' },
        { section: 'big weights', name: '1.1B llama: load (safetensors → spec)', value: m.loadMs, unit: 'ms', provider: m.provider },
        { section: 'big weights', name: '1.1B llama: graph build + external data + session', value: m.createMs, unit: 'ms', provider: m.provider },
        { section: 'big weights', name: '1.1B llama: forward, 16 tokens', value: m.forwardMs, unit: 'ms', provider: m.provider },
      );
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs in the child process: load, build, run; prints one JSON line with the figures. */
export async function bigWeightsChild(dir: string, provider: string): Promise<void> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'ci-1b-cache-'));
  try {
    const t0 = performance.now();
    const bundle = await loadModelBundle(dir);
    const t1 = performance.now();
    const runner = await ForwardRunner.create(bundle, { provider: provider as never, cacheDir });
    const t2 = performance.now();
    await runner.run(Array.from({ length: 16 }, (_, i) => i + 1));
    const t3 = performance.now();
    console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024, loadMs: t1 - t0, createMs: t2 - t1, forwardMs: t3 - t2, provider: runner.provider }));
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
