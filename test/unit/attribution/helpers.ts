/**
 * Shared by the attribution tests: fixture paths, the PyTorch autograd reference
 * (tools/reference/attribution_ref.py) and its output, and small numeric helpers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { loadDictionary } from '../../../src/engine/dictionaries/index';
import type { ModelBundle } from '../../../src/engine/api';
import type { Dictionary } from '../../../src/engine/dictionaries/types';
import { createEngine, type AttributionEngine } from '../../../src/engine/attribution/engine';
import { replacementFromDictionary } from '../../../src/engine/attribution/from-dictionary';
import { readF32Safetensors } from '../forward/reference-helpers';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const MODELS = join(ROOT, 'test', 'fixtures', 'models');
export const TRANSCODERS = join(ROOT, 'test', 'fixtures', 'transcoders');
export const PYTHON = '/usr/bin/python3';
export const CACHE_DIR = mkdtempSync(join(tmpdir(), 'ci-attr-cache-'));

export interface Reference {
  /** [n, 3] (layer, position, index) */
  features: number[][];
  activations: Float32Array;
  errors: Float32Array;
  logitIds: number[];
  logitProbs: Float32Array;
  /** [rows, cols] */
  edges: Float32Array;
  rows: number;
  cols: number;
  bias: Float32Array;
  value: Float32Array;
  /** With `prune`: circuit-tracer's pruning and scores on the dense adjacency (nodes: features, errors, tokens, logits). */
  pruned?: { influence: Float32Array; cumulative: Float32Array; nodeMask: Float32Array; edgeMask: Float32Array; scores: Float32Array };
}

/** The reference's F32 safetensors, read by the tests' own reader (independent of the engine's). */
export { readF32Safetensors as readF32Tensors };

export function runReference(model: string, transcoders: string, ids: number[], zeroBos: boolean, prune?: [number, number]): Reference {
  const out = join(mkdtempSync(join(tmpdir(), 'ci-attr-ref-')), 'ref.safetensors');
  const args = [join(ROOT, 'tools', 'reference', 'attribution_ref.py'), '--model', model, '--transcoders', transcoders, '--ids', ids.join(','), '--out', out];
  if (zeroBos) args.push('--zero-bos');
  if (prune) args.push('--prune', prune.join(','));
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`attribution_ref.py failed: ${r.stderr}`);
  const t = readF32Safetensors(out);
  const feats = t.get('features')!;
  const edges = t.get('edges')!;
  const features: number[][] = [];
  for (let i = 0; i < feats.shape[0]; i++) features.push([0, 1, 2].map((j) => feats.data[i * 3 + j]));
  return {
    features,
    activations: t.get('activations')!.data,
    errors: t.get('errors')!.data,
    logitIds: Array.from(t.get('logit_ids')!.data),
    logitProbs: t.get('logit_probs')!.data,
    edges: edges.data,
    rows: edges.shape[0],
    cols: edges.shape[1],
    bias: t.get('bias')!.data,
    value: t.get('value')!.data,
    pruned: t.has('influence')
      ? { influence: t.get('influence')!.data, cumulative: t.get('cumulative')!.data, nodeMask: t.get('node_mask')!.data, edgeMask: t.get('edge_mask')!.data, scores: t.get('scores')!.data }
      : undefined,
  };
}

/** max |a − b| / max(|b|) over the arrays: one scale per comparison. */
export function relMaxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den > 0 ? num / den : num;
}


export interface Fixture {
  model: string;
  transcoders: string;
  prompt: string;
  /** Absolute folders, for models outside test/fixtures (the embedded model). */
  modelDir?: string;
  dictDir?: string;
}

/** The embedded model with its transcoders and CLT (present once tools/train has built it). */
export const EMBEDDED: Fixture[] = ['transcoders', 'clt'].map((d) => ({
  model: 'toy-llama',
  transcoders: d,
  prompt: 'Dallas is in the state whose capital is',
  modelDir: join(ROOT, 'models', 'toy-llama'),
  dictDir: join(ROOT, 'models', 'toy-llama', d),
}));

export function embeddedPresent(f: Fixture): boolean {
  return !!f.modelDir && existsSync(join(f.modelDir, 'config.json')) && !!f.dictDir && existsSync(f.dictDir);
}

/** One case per architecture, plus the cross-layer transcoder; prompts longer than Gemma-2's window. */
export const FIXTURES: Fixture[] = [
  { model: 'llama-tiny', transcoders: 'llama-tiny', prompt: 'The capital of Texas is Austin. The capital of Texas is' },
  { model: 'gpt2-tiny', transcoders: 'gpt2-tiny', prompt: 'The cat sat on the mat. The cat sat on the' },
  { model: 'gemma2-tiny', transcoders: 'gemma2-tiny', prompt: 'The cat sat on the mat. The cat sat on' },
  { model: 'qwen3-tiny', transcoders: 'qwen3-tiny', prompt: 'The cat sat on the mat 12 times. The cat' },
  { model: 'llama-tiny', transcoders: 'llama-tiny-clt', prompt: 'The capital of Texas is Austin. The capital of Texas is' },
];

export interface Loaded {
  bundle: ModelBundle;
  dictionary: Dictionary;
  engine: AttributionEngine;
  modelDir: string;
  dictDir: string;
}

export async function loadFixture(f: Fixture): Promise<Loaded> {
  const modelDir = f.modelDir ?? join(MODELS, f.model);
  const dictDir = f.dictDir ?? join(TRANSCODERS, f.transcoders);
  const bundle = await loadModelBundle(modelDir);
  const dictionary = await loadDictionary(dictDir, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
  const engine = await createEngine(bundle, replacementFromDictionary(dictionary, bundle.spec), { cacheDir: CACHE_DIR, threads: 1, provider: 'cpu' });
  return { bundle, dictionary, engine, modelDir, dictDir };
}
