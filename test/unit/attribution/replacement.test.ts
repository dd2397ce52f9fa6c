/**
 * The local replacement model, run forward by its own ONNX graph (patterns and norm scales frozen,
 * each MLP output = decoded features + b_dec + error, plus the skip term):
 * 4. with error nodes it reproduces the real model's logits (and every transcoder input);
 * 3. finite differences of it agree with the attribution edges: scaling one source (a feature's
 *    activation, an error vector, a token embedding) by (1 + h) moves every target by h × its edge
 *    (the model is linear in its sources, so this holds to rounding for any h).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAttribution, type RawAttribution } from '../../../src/engine/attribution/attribute';
import { FrozenAttentionRunner } from '../../../src/engine/attribution/frozen-forward';
import type { AttributionEngine } from '../../../src/engine/attribution/engine';
import { CACHE_DIR, FIXTURES, loadFixture } from './helpers';

/** MLP constants of the replacement model: Σ activation × decoder + b_dec + error, per layer and position. */
function mlpConstants(engine: AttributionEngine, raw: RawAttribution): Float32Array {
  const { replacement: r } = engine;
  const spec = engine.bundle.spec;
  const L = spec.nLayers, d = spec.dModel, T = raw.frozen.T;
  const f = raw.features;
  const c = Float32Array.from(f.errors);
  for (let l = 0; l < L; l++) for (let t = 0; t < T; t++) for (let i = 0; i < d; i++) c[(l * T + t) * d + i] += r.layers[l].bDec[i];
  for (let k = 0; k < f.act.length; k++) {
    const i0 = f.layer[k];
    const span = r.kind === 'clt' ? L - i0 : 1;
    for (let j = 0; j < span; j++) {
      const w = r.layers[i0].wDec.data;
      const off = ((i0 + j) * T + f.pos[k]) * d;
      const woff = f.index[k] * span * d + j * d;
      for (let i = 0; i < d; i++) c[off + i] += f.act[k] * w[woff + i];
    }
  }
  return c;
}

/** Target values of the replacement model: feature pre-activations, then demeaned raw logits at T − 1. */
function targetValues(engine: AttributionEngine, raw: RawAttribution, tcIn: Float32Array[], logitsRaw: Float32Array): Float64Array {
  const spec = engine.bundle.spec;
  const d = spec.dModel, V = spec.vocabSize, T = raw.frozen.T;
  const f = raw.features;
  const out = new Float64Array(f.act.length + raw.targets.length);
  for (let k = 0; k < f.act.length; k++) {
    const t = engine.replacement.layers[f.layer[k]];
    let s = t.bEnc[f.index[k]];
    for (let i = 0; i < d; i++) s += tcIn[f.layer[k]][f.pos[k] * d + i] * t.wEnc.data[f.index[k] * d + i];
    out[k] = s;
  }
  const row = logitsRaw.subarray((T - 1) * V, T * V);
  let mean = 0;
  for (const v of row) mean += v;
  mean /= V;
  raw.targets.forEach((tg, j) => {
    // A custom target would be a difference; default targets are single demeaned logits.
    out[f.act.length + j] = row[tg.tokenId] - mean;
  });
  return out;
}

for (const f of FIXTURES) {
  test(`replacement model reproduces the logits and finite differences match the edges: ${f.model} with ${f.transcoders}`, async () => {
    const { bundle, engine } = await loadFixture(f);
    const spec = bundle.spec;
    const L = spec.nLayers, d = spec.dModel, V = spec.vocabSize;
    const raw = await computeAttribution(engine, f.prompt, { edgeTolerance: 0, zeroBos: false });
    const T = raw.frozen.T;
    const runner = await FrozenAttentionRunner.create(bundle, engine.replacement, 'replacement', { cacheDir: CACHE_DIR, threads: 1, provider: 'cpu' });
    const base = mlpConstants(engine, raw);
    const out = await runner.run(raw.frozen, base);

    // Check 4: logits at every position and every transcoder input, as the real forward pass gave them.
    let maxLogit = 0, errLogit = 0;
    for (let i = 0; i < T * V; i++) {
      maxLogit = Math.max(maxLogit, Math.abs(raw.frozen.logits[i]));
      errLogit = Math.max(errLogit, Math.abs(out.logits[i] - raw.frozen.logits[i]));
    }
    assert.ok(errLogit <= 1e-5 * maxLogit, `replacement logits differ from the model's by ${errLogit} (max |logit| ${maxLogit})`);
    for (let l = 0; l < L; l++) {
      let m = 0, e = 0;
      for (let i = 0; i < T * d; i++) {
        m = Math.max(m, Math.abs(raw.frozen.inputs[l][i]));
        e = Math.max(e, Math.abs(out.tcIn[l][i] - raw.frozen.inputs[l][i]));
      }
      assert.ok(e <= 1e-5 * m, `layer ${l} transcoder input differs by ${e}`);
    }

    // Check 3: finite differences, for a spread of sources of every kind.
    const y0 = targetValues(engine, raw, out.tcIn, out.logitsRaw);
    const a = raw.adjacency;
    const nF = raw.features.act.length;
    const nSrc = nF + L * T + T;
    const h = 0.5;
    // Features, errors (layer 0 early and late, last layer at the last position), tokens.
    const sources = [0, 1, Math.floor(nF / 3), Math.floor(nF / 2), nF - 1, nF + 2, nF + T - 1, nF + L * T - 1, nF + L * T + 1, nF + L * T + T - 1];
    let withEdges = 0;
    for (const s of sources) {
      const c = Float32Array.from(base);
      let r0: Float32Array | undefined;
      if (s < nF) {
        const dDelta = new Float32Array(c.length);
        const k = s, i0 = raw.features.layer[k];
        const span = engine.replacement.kind === 'clt' ? L - i0 : 1;
        for (let j = 0; j < span; j++) {
          const w = engine.replacement.layers[i0].wDec.data;
          for (let i = 0; i < d; i++) dDelta[((i0 + j) * T + raw.features.pos[k]) * d + i] = h * raw.features.act[k] * w[raw.features.index[k] * span * d + j * d + i];
        }
        for (let i = 0; i < c.length; i++) c[i] += dDelta[i];
      } else if (s < nF + L * T) {
        const off = (s - nF) * d;
        for (let i = 0; i < d; i++) c[off + i] += h * raw.features.errors[off + i];
      } else {
        const t = s - nF - L * T;
        r0 = Float32Array.from(raw.frozen.embeddings);
        if (raw.frozen.posEmbed) for (let i = 0; i < r0.length; i++) r0[i] += raw.frozen.posEmbed[i];
        for (let i = 0; i < d; i++) r0[t * d + i] += h * raw.frozen.embeddings[t * d + i];
      }
      const o = await runner.run(raw.frozen, c, r0);
      const y = targetValues(engine, raw, o.tcIn, o.logitsRaw);
      let colMax = 0;
      const fd = new Float64Array(y.length);
      const edge = new Float64Array(y.length);
      for (let t = 0; t < y.length; t++) {
        fd[t] = (y[t] - y0[t]) / h;
        const node = t < nF ? t : nSrc + (t - nF);
        for (let p = a.rowPtr[node]; p < a.rowPtr[node + 1]; p++) if (a.col[p] === s) edge[t] = a.val[p];
        colMax = Math.max(colMax, Math.abs(edge[t]));
      }
      // A source without edges (e.g. a last-layer feature before the last position) must move nothing.
      if (colMax > 0) withEdges++;
      for (let t = 0; t < y.length; t++) {
        const tol = 1e-3 * colMax + 1e-5 * Math.abs(y0[t]);
        assert.ok(Math.abs(fd[t] - edge[t]) <= tol, `source ${s} → target ${t}: finite difference ${fd[t]}, edge ${edge[t]}`);
      }
    }
    assert.ok(withEdges >= sources.length - 2, `most sampled sources have edges (${withEdges} of ${sources.length})`);
  });
}
