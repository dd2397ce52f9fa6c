/**
 * Active transcoder features and error vectors of one prompt, computed by the encode graph in chunks
 * of positions (bounding the [T, F] intermediate), in circuit-tracer's order: by layer, then position,
 * then feature index. Features and errors at the BOS position are zeroed when the prompt starts with a
 * special token, as circuit-tracer does (the BOS residual is huge and uninformative).
 */
import { ort, type EngineSession } from '../runtime';
import { encodeNames } from '../onnx/encode-graph';
import type { FrozenForward } from './frozen';

export interface ActiveFeatures {
  layer: Int32Array;
  pos: Int32Array;
  index: Int32Array;
  act: Float32Array;
  /** Encoder pre-activation (what an edge into this feature explains). */
  pre: Float32Array;
  /** [L, T, d] */
  errors: Float32Array;
  /** Number of active features per layer; features of layer l start at layerStart[l]. */
  layerStart: Int32Array;
}

export const ENCODE_CHUNK = 256;

export async function encodeFeatures(session: EngineSession, frozen: FrozenForward, nLayers: number, d: number, zeroBos: boolean): Promise<ActiveFeatures> {
  const T = frozen.T;
  const errors = new Float32Array(nLayers * T * d);
  const perLayer: { pos: number[]; index: number[]; act: number[]; pre: number[] }[] = Array.from({ length: nLayers }, () => ({ pos: [], index: [], act: [], pre: [] }));
  for (let t0 = 0; t0 < T; t0 += ENCODE_CHUNK) {
    const t1 = Math.min(T, t0 + ENCODE_CHUNK);
    const n = t1 - t0;
    const feeds: Record<string, ort.Tensor> = {};
    for (let l = 0; l < nLayers; l++) {
      feeds[encodeNames.x(l)] = new ort.Tensor('float32', frozen.inputs[l].subarray(t0 * d, t1 * d), [n, d]);
      feeds[encodeNames.y(l)] = new ort.Tensor('float32', frozen.mlpOut[l].subarray(t0 * d, t1 * d), [n, d]);
    }
    const out = await session.run(feeds);
    for (let l = 0; l < nLayers; l++) {
      const idx = out[encodeNames.idx(l)].data as BigInt64Array;
      const act = out[encodeNames.act(l)].data as Float32Array;
      const pre = out[encodeNames.pre(l)].data as Float32Array;
      const acc = perLayer[l];
      for (let k = 0; k < act.length; k++) {
        const p = t0 + Number(idx[2 * k]);
        if (zeroBos && p === 0) continue;
        acc.pos.push(p);
        acc.index.push(Number(idx[2 * k + 1]));
        acc.act.push(act[k]);
        acc.pre.push(pre[k]);
      }
      errors.set(out[encodeNames.err(l)].data as Float32Array, (l * T + t0) * d);
    }
  }
  if (zeroBos) for (let l = 0; l < nLayers; l++) errors.fill(0, l * T * d, l * T * d + d);
  const total = perLayer.reduce((a, p) => a + p.act.length, 0);
  const f: ActiveFeatures = {
    layer: new Int32Array(total),
    pos: new Int32Array(total),
    index: new Int32Array(total),
    act: new Float32Array(total),
    pre: new Float32Array(total),
    errors,
    layerStart: new Int32Array(nLayers + 1),
  };
  let k = 0;
  for (let l = 0; l < nLayers; l++) {
    f.layerStart[l] = k;
    const p = perLayer[l];
    for (let i = 0; i < p.act.length; i++, k++) {
      f.layer[k] = l;
      f.pos[k] = p.pos[i];
      f.index[k] = p.index[i];
      f.act[k] = p.act[i];
      f.pre[k] = p.pre[i];
    }
  }
  f.layerStart[nLayers] = k;
  return f;
}
