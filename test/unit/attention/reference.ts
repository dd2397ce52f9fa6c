/**
 * Runs tools/reference/attention_ref.py (the PyTorch reference for head loadings and QK attribution)
 * on jobs described in the engine's terms, translated to the reference's source / target names.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RawAttribution } from '../../../src/engine/attribution/attribute';
import type { HeadTarget } from '../../../src/engine/attention/head-loadings';
import { sweepColumnOfNode } from '../../../src/engine/attention/graph-heads';
import { PYTHON, readF32Tensors, ROOT } from '../attribution/helpers';

export interface RefEdge {
  /** Adjacency row (target) and column (source) node indices, and the edge's index in the caller's list. */
  row: number;
  col: number;
  index: number;
}

type Json = (string | number)[];

/** The reference's name of a source, from its sweep column. */
export function sourceName(raw: RawAttribution, col: number, nLayers: number): Json {
  const f = raw.features;
  const nF = f.act.length, T = raw.frozen.T;
  if (col < nF) return ['feature', f.layer[col], f.pos[col], f.index[col]];
  if (col < nF + nLayers * T) return ['error', Math.floor((col - nF) / T), (col - nF) % T];
  return ['embedding', col - nF - nLayers * T];
}

function run(modelDir: string, dictDir: string, raw: RawAttribution, zeroBos: boolean, mode: 'heads' | 'qk', job: unknown): Map<string, { shape: number[]; data: Float32Array }> {
  const dir = mkdtempSync(join(tmpdir(), 'ci-attn-ref-'));
  writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
  const args = [join(ROOT, 'tools', 'reference', 'attention_ref.py'), '--model', modelDir, '--transcoders', dictDir, '--ids', raw.frozen.ids.join(','), `--${mode}`, join(dir, 'job.json'), '--out', join(dir, 'out.safetensors')];
  if (zeroBos) args.push('--zero-bos');
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`attention_ref.py failed: ${r.stderr}`);
  return readF32Tensors(join(dir, 'out.safetensors'));
}

/** Per-edge head contributions [L · H] from the reference. */
export function runHeadReference(modelDir: string, dictDir: string, raw: RawAttribution, edges: (RefEdge & { target: HeadTarget })[]): { heads: Float32Array[]; total: Float32Array } {
  const L = raw.frozen.patterns!.length;
  const f = raw.features;
  const job = {
    edges: edges.map((e) => {
      let target: Json;
      if (e.target.kind === 'feature') {
        const k = raw.selected[e.row];
        target = ['feature', f.layer[k], f.pos[k], f.index[k]];
      } else {
        target = ['logit', raw.targets[e.row - (raw.adjacency.nNodes - raw.layout.nLogits)].tokenId];
      }
      return { source: sourceName(raw, sweepColumnOfNode(raw, e.col), L), target };
    }),
  };
  const zeroBos = f.errors.subarray(0, raw.frozen.embeddings.length / raw.frozen.T).every((x) => x === 0);
  const t = run(modelDir, dictDir, raw, zeroBos, 'heads', job);
  const heads = t.get('heads')!;
  const per = heads.shape[1] * heads.shape[2];
  return { heads: edges.map((_, i) => heads.data.subarray(i * per, (i + 1) * per)), total: t.get('total')!.data };
}

export interface QkReference {
  qvec: Float32Array;
  kvec: Float32Array;
  hd: number;
  scorePre: number;
  score: number;
  pattern: number;
  scale: number;
}

export function runQkReference(modelDir: string, dictDir: string, raw: RawAttribution, zeroBos: boolean, job: { layer: number; head: number; query: number; key: number; columns: number[] }): QkReference {
  const L = raw.frozen.patterns!.length;
  const t = run(modelDir, dictDir, raw, zeroBos, 'qk', { layer: job.layer, head: job.head, query: job.query, key: job.key, sources: job.columns.map((c) => sourceName(raw, c, L)) });
  const q = t.get('qvec')!;
  return { qvec: q.data, kvec: t.get('kvec')!.data, hd: q.shape[1], scorePre: t.get('score_pre')!.data[0], score: t.get('score')!.data[0], pattern: t.get('pattern')!.data[0], scale: t.get('scale')!.data[0] };
}
