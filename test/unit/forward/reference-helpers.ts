/**
 * Shared by the tests that compare with the PyTorch reference (tools/reference/forward_ref.py): the
 * fixture prompts with their hand-checked tokens, running the reference, reading its output, and the
 * tolerance.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HookTensor } from '../../../src/engine/api';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures', 'models');
const REFERENCE = join(ROOT, 'tools', 'reference', 'forward_ref.py');
const PYTHON = '/usr/bin/python3';

/**
 * Tolerance: max |engine − reference| ≤ 1e-4 · max(1, max |reference|), per tensor.
 * The engine computes in float32 (relative rounding ~6e-8 per operation); through 2–3 blocks of dot
 * products of length ≤ 128, softmax and tanh the accumulated error stays near 1e-6 of the tensor's
 * scale, so 1e-4 leaves two orders of margin for onnxruntime's kernels. It is absolute for tensors of
 * O(1) (patterns, scales, residuals of these fixtures) and relative to the tensor's largest entry for
 * larger ones (scales 1/rms can reach ~10), so it means the same thing for every hook. A semantic slip
 * (a missing norm gain, a wrong rotary band, soft-capping, window or scale, even gelu_new vs erf-GELU)
 * moves the outputs by well over this, as reference-fixtures.test.ts shows against the same TOL.
 */
export const TOL = 1e-4;

export interface Case {
  model: string;
  prompt: string;
  /** The prompt's tokens as spelled in the fixture's vocabulary, derived by hand from its merges
   *  (and confirmed with the Rust `tokenizers` 0.22.2, see tools/reference/README.md). */
  tokens: string[];
  /** [start, end) of each token in the prompt, as the Rust `tokenizers` reports them (ASCII prompts,
   *  so its char offsets are also JavaScript string offsets). */
  offsets?: [number, number][];
}

// Each prompt is longer than Gemma-2's sliding window (4) so the window changes the patterns.
export const CASES: Case[] = [
  {
    model: 'gpt2-tiny',
    prompt: 'The cat sat on the mat. The cat sat on the',
    // " mat" stops at Ġm + at (there is no "Ġm at" merge); " The" is Ġ + The (no "Ġ T" merge).
    tokens: ['The', 'Ġcat', 'Ġsat', 'Ġon', 'Ġthe', 'Ġm', 'at', '.', 'Ġ', 'The', 'Ġcat', 'Ġsat', 'Ġon', 'Ġthe'],
    offsets: [[0, 3], [3, 7], [7, 11], [11, 14], [14, 18], [18, 20], [20, 22], [22, 23], [23, 24], [24, 27], [27, 31],
      [31, 35], [35, 38], [38, 42]],
  },
  ...['llama-tiny', 'llama-tiny-tied', 'llama-tiny-f16', 'llama-tiny-hf5'].map((model) => ({
    model,
    prompt: 'The capital of Texas is Austin. The capital of Texas is',
    tokens: ['<|begin_of_text|>', 'The', 'Ġcapital', 'Ġof', 'ĠTexas', 'Ġis', 'ĠAustin', '.', 'Ġ', 'The',
      'Ġcapital', 'Ġof', 'ĠTexas', 'Ġis'],
    offsets: [[0, 0], [0, 3], [3, 11], [11, 14], [14, 20], [20, 23], [23, 30], [30, 31], [31, 32], [32, 35], [35, 43],
      [43, 46], [46, 52], [52, 55]] as [number, number][],
  })),
  {
    model: 'gemma2-tiny',
    prompt: 'The cat sat on the mat. The cat sat on',
    // No pre-tokenizer: the whole normalised text ("The▁cat▁sat…") is one BPE word.
    tokens: ['<bos>', 'The', '▁cat', '▁sat', '▁on', '▁the', '▁m', 'at', '.', '▁', 'The', '▁cat', '▁sat', '▁on'],
    offsets: [[0, 0], [0, 3], [3, 7], [7, 11], [11, 14], [14, 18], [18, 20], [20, 22], [22, 23], [23, 24], [24, 27],
      [27, 31], [31, 35], [35, 38]],
  },
  {
    model: 'qwen3-tiny',
    prompt: 'The cat sat on the mat 12 times. The cat',
    // Qwen's regex splits digits one by one, so the "1 2" merge never applies; no BOS.
    tokens: ['The', 'Ġcat', 'Ġsat', 'Ġon', 'Ġthe', 'Ġ', 'm', 'at', 'Ġ', '1', '2', 'Ġt', 'i', 'm', 'e', 's', '.',
      'Ġ', 'The', 'Ġcat'],
    offsets: [[0, 3], [3, 7], [7, 11], [11, 14], [14, 18], [18, 19], [19, 20], [20, 22], [22, 23], [23, 24], [24, 25],
      [25, 27], [27, 28], [28, 29], [29, 30], [30, 31], [31, 32], [32, 33], [33, 36], [36, 40]],
  },
];

// More hand-checked encodings: byte-level fallback, ignore_merges, byte_fallback, added tokens in text.
export const TOKENIZER_CASES: Case[] = [
  { model: 'gpt2-tiny', prompt: ' café', tokens: ['Ġc', 'a', 'f', 'Ã', '©'] },
  // "Ġworld" is in the vocabulary with no merge path: only ignore_merges (Llama-3) produces it.
  { model: 'llama-tiny', prompt: 'Hello world 1234', tokens: ['<|begin_of_text|>', 'H', 'e', 'l', 'l', 'o', 'Ġworld', 'Ġ', '123', '4'] },
  { model: 'gemma2-tiny', prompt: 'The cat é?', tokens: ['<bos>', 'The', '▁cat', '▁', '<0xC3>', '<0xA9>', '<0x3F>'] },
  { model: 'qwen3-tiny', prompt: '<|im_start|>The cat', tokens: ['<|im_start|>', 'The', 'Ġcat'] },
];

export function vocabIds(model: string, tokens: string[]): number[] {
  const tok = JSON.parse(readFileSync(join(FIXTURES, model, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number> };
    added_tokens: { id: number; content: string }[];
  };
  const added = new Map(tok.added_tokens.map((t) => [t.content, t.id]));
  return tokens.map((t) => {
    const id = added.get(t) ?? tok.model.vocab[t];
    if (id === undefined) throw new Error(`${model}: ${t} is not in the fixture's vocabulary`);
    return id;
  });
}

// ---------------------------------------------------------------------------------------------------
// The reference's output: F32 safetensors, read here with its own few lines rather than the engine's
// reader, so a reader bug cannot hide on both sides.

export function readF32Safetensors(path: string): Map<string, HookTensor> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, HookTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.equal(info.dtype, 'F32', `${path}: ${name}`);
    const [b, e] = info.data_offsets;
    const bytes = buf.subarray(8 + n + b, 8 + n + e);
    const data = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
    out.set(name, { shape: info.shape, data });
  }
  return out;
}

export interface Job {
  model: string;
  ids: number[];
  out: string;
  mlp_out_delta?: string;
  config_override?: Record<string, unknown>;
}

export function torchMissing(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (the reference needs Debian's python3-torch)`;
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `python3 cannot import torch/numpy (install python3-torch): ${r.stderr.trim().split('\n').pop()}`;
}

/** Runs every job in one Python process (torch's start-up dominates a fixture's forward). */
export function runReference(dir: string, jobs: Job[]): void {
  const jobsPath = join(dir, `jobs-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(jobsPath, JSON.stringify(jobs));
  const r = spawnSync(PYTHON, [REFERENCE, '--jobs', jobsPath], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
  });
  assert.equal(r.status, 0, `reference failed:\n${r.stderr}`);
}

export function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/** Asserts the tolerance documented at TOL; returns the error relative to the tensor's scale. */
export function assertClose(what: string, got: HookTensor | undefined, ref: HookTensor): number {
  assert.ok(got, `${what}: the engine did not output it`);
  assert.deepEqual(got.shape, ref.shape, `${what}: shape`);
  const scale = Math.max(1, maxAbs(ref.data));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < ref.data.length; i++) {
    const d = Math.abs(got.data[i] - ref.data[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= TOL * scale, `${what}: max |engine − reference| = ${worst} at flat index ${at} (engine ${got.data[at]}, reference ${ref.data[at]}), allowed ${TOL * scale}`);
  return worst / scale;
}

export function compareAll(model: string, cache: { hooks: Map<string, HookTensor>; logits: HookTensor }, ref: Map<string, HookTensor>): number {
  let worst = 0;
  for (const [name, r] of ref) {
    const got = name === 'logits' ? cache.logits : cache.hooks.get(name);
    worst = Math.max(worst, assertClose(`${model} ${name}`, got, r));
  }
  return worst;
}

/** A deterministic [L, T, d] delta of O(0.5): large enough to change every later hook. */
export function makeDelta(nLayers: number, T: number, d: number): Float32Array {
  const out = new Float32Array(nLayers * T * d);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = ((s >>> 8) / (1 << 24) - 0.5);
  }
  return out;
}


/** Token ids from the Rust `tokenizers` Python package for the same tokenizer.json, or undefined when
 *  that package is not importable (Debian has none; see tools/reference/README.md). */
export function pythonTokenizerIds(model: string, prompts: string[]): number[][] | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import tokenizers'], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  const code = 'import json,sys\nfrom tokenizers import Tokenizer\nt=Tokenizer.from_file(sys.argv[1])\n'
    + 'print(json.dumps([t.encode(p).ids for p in json.loads(sys.argv[2])]))';
  const r = spawnSync(PYTHON, ['-c', code, join(FIXTURES, model, 'tokenizer.json'), JSON.stringify(prompts)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as number[][];
}
