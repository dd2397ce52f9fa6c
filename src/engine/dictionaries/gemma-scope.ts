/**
 * Gemma Scope transcoders as Google publishes them: a folder with `layer_{i}/…/params.npz` (for example
 * `layer_3/width_16k/average_l0_76/params.npz`), each an .npz holding `W_enc` [d_model, F] (transposed
 * relative to circuit-tracer), `W_dec` [F, d_model], `b_enc`, `b_dec` and the JumpReLU `threshold`.
 * When a layer folder holds several variants (widths, L0s) the choice is the user's: we list them and
 * ask for a config.yaml naming one file per layer. Hooks are the MLP's input and output (what Gemma
 * Scope transcoders were trained on), unless a config.yaml beside them says otherwise.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { EngineError } from '../errors';
import { transcoderSet } from './circuit-tracer';
import type { LayerSpec } from './layered';
import { resolveInside } from './paths';
import { NpzSource } from './sources';
import type { Dictionary } from './types';

function findNpz(dir: string, depth: number, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory() && depth > 0) findNpz(p, depth - 1, out);
    else if (st.isFile() && name === 'params.npz') out.push(p);
  }
}

/** layer index → params.npz paths below `layer_{i}/`, for a folder laid out like Gemma Scope. */
export function gemmaScopeLayers(dir: string): Map<number, string[]> {
  const layers = new Map<number, string[]>();
  for (const name of readdirSync(dir)) {
    const m = /^layer_(\d+)$/.exec(name);
    if (!m || !statSync(join(dir, name)).isDirectory()) continue;
    const found: string[] = [];
    findNpz(join(dir, name), 4, found);
    if (found.length) layers.set(Number(m[1]), found);
  }
  return layers;
}

export function loadGemmaScope(dir: string): Dictionary {
  const found = gemmaScopeLayers(dir);
  const n = found.size;
  const specs: LayerSpec[] = [];
  for (let i = 0; i < n; i++) {
    const files = found.get(i);
    if (!files) {
      throw new EngineError('DICTIONARY_INVALID', `${dir} has params.npz files for layers ${[...found.keys()].sort((a, b) => a - b).join(', ')} but none for layer ${i}; a transcoder set needs every layer from 0.`);
    }
    const rels = files.map((f) => relative(dir, f));
    if (files.length > 1) {
      throw new EngineError(
        'DICTIONARY_INVALID',
        `${dir}/layer_${i} holds ${files.length} Gemma Scope variants (${rels.join(', ')}); which one to use is your choice.`,
        'Write a config.yaml in the folder with `model_kind: transcoder_set` and `transcoders:` listing one params.npz path per layer.',
      );
    }
    specs.push({
      layer: i,
      src: new NpzSource(resolveInside(dir, rels[0], `layer ${i}`), rels[0]),
      names: { wEnc: 'W_enc', wDec: 'W_dec', bEnc: 'b_enc', bDec: 'b_dec', threshold: 'threshold' },
      encLayout: 'DF',
      decLayout: 'FD',
    });
  }
  return transcoderSet(dir, specs, { activation: 'jumprelu' }, 'gemma-scope', basename(dir));
}
