/**
 * "Structure the model does not use": for every active feature of a dictionary on a prompt, the
 * measured effect on the answer of removing it from the real model (attention and norms recomputed).
 *
 * Removing feature f of layer l at position p subtracts a · d_f from what the dictionary replaces at
 * that position (for a CLT, from every output layer it writes to). The answer is the model's top
 * prediction at the last position; the effect is the change of that logit. A feature is "unused" at ε
 * when |effect| < ε.
 */
import type { ModelBundle } from '../api';
import type { Dictionary } from '../dictionaries/types';
import type { ForwardRunner } from '../forward';

export interface FeatureEffect {
  layer: number;
  position: number;
  index: number;
  activation: number;
  /** Change of the answer's logit at the last position when the feature is removed. */
  effect: number;
}

export interface AblationEffects {
  answerId: number;
  effects: FeatureEffect[];
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Layers a dictionary layer's features write into (itself, or every later layer for a CLT). */
function outputLayers(dict: Dictionary, layer: number): number[] {
  if (dict.kind !== 'clt') return [layer];
  return dict.layers.filter((l) => l >= layer);
}

/**
 * Every active feature's ablation effect on the answer (positions after BOS). `maxFeatures` bounds the
 * number of forward passes (largest activations first); the rest are not measured.
 */
export async function ablationEffects(runner: ForwardRunner, bundle: ModelBundle, dict: Dictionary, ids: number[], maxFeatures = Infinity): Promise<AblationEffects> {
  const spec = bundle.spec;
  const T = ids.length;
  const d = spec.dModel;
  const V = spec.vocabSize;
  const clean = await runner.run(ids);
  const answerId = argmax(clean.logits.data.subarray((T - 1) * V, T * V));
  const before = clean.logits.data[(T - 1) * V + answerId];
  const t0 = clean.tokens[0]?.special ? 1 : 0;

  const active: FeatureEffect[] = [];
  for (const l of dict.layers) {
    const x = clean.hooks.get(dict.inputHook(l))!.data;
    const acts = dict.encode(l, x, T);
    const F = dict.nFeatures(l);
    for (let t = t0; t < T; t++) for (let f = 0; f < F; f++) if (acts[t * F + f] !== 0) active.push({ layer: l, position: t, index: f, activation: acts[t * F + f], effect: NaN });
  }
  const measured = [...active].sort((a, b) => Math.abs(b.activation) - Math.abs(a.activation)).slice(0, maxFeatures);
  const delta = new Float32Array(spec.nLayers * T * d);
  for (const fe of measured) {
    delta.fill(0);
    for (const target of outputLayers(dict, fe.layer)) {
      const row = dict.decoderRows(fe.layer, [fe.index], target);
      const off = (target * T + fe.position) * d;
      for (let i = 0; i < d; i++) delta[off + i] = -fe.activation * row[i];
    }
    const after = await runner.run(ids, { mlpOutDelta: delta });
    fe.effect = after.logits.data[(T - 1) * V + answerId] - before;
  }
  return { answerId, effects: measured };
}
