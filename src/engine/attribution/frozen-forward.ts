/**
 * Runs the frozen-attention forward graphs (src/engine/onnx/intervention-graph.ts) on a prompt whose
 * patterns (and, for the local replacement model, norm scales) were frozen from its forward pass.
 *
 * - 'intervention': patterns frozen, norms and MLPs live, mlp_out_delta added to each MLP output
 *   (circuit-tracer's freeze_attention interventions).
 * - 'intervention-frozen-norms': the same with every norm scale frozen too (the attribution graph's
 *   setting, with the real MLPs).
 * - 'replacement': patterns and norm scales frozen, each MLP output a given constant (plus the skip
 *   term): the local replacement model, linear in its inputs; used to check attribution by finite
 *   differences and to show that with error nodes it reproduces the model's logits.
 */
import type { ModelBundle } from '../api';
import { cacheKey, cachedModel, defaultCacheDir } from '../onnx/cache';
import { buildInterventionGraph, interventionNames as N } from '../onnx/intervention-graph';
import { createSession, ort, type EngineSession } from '../runtime';
import { ATTRIBUTION_GRAPH_VERSION, replacementFingerprint, type EngineOptions } from './engine';
import { densePatterns, type FrozenForward } from './frozen';
import type { Replacement } from './replacement';

export type FrozenMode = 'intervention' | 'intervention-frozen-norms' | 'replacement';

export interface FrozenRun {
  /** [T, vocab], after any final soft-cap. */
  logits: Float32Array;
  /** [T, vocab], before it. */
  logitsRaw: Float32Array;
  /** [T, d] per layer: the transcoder inputs. */
  tcIn: Float32Array[];
  /** [T, d] per layer: what each MLP adds to the residual, delta included (intervention modes only). */
  mlpOut?: Float32Array[];
}

export class FrozenAttentionRunner {
  private constructor(private readonly bundle: ModelBundle, private readonly session: EngineSession, readonly mode: FrozenMode) {}

  static async create(bundle: ModelBundle, r: Replacement, mode: FrozenMode, opts: EngineOptions = {}): Promise<FrozenAttentionRunner> {
    const skip = mode === 'replacement' ? r.layers.map((l) => l.wSkip) : undefined;
    const graphOpts = { norms: mode === 'intervention' ? 'live' : 'frozen', mlp: mode === 'replacement' ? 'constant' : 'real', inputHook: r.inputHook } as const;
    // The replacement graph holds the transcoders' skip matrices, so its key includes them; the
    // intervention graph depends on the model and the input hook only.
    const hash = mode === 'replacement' ? `${bundle.weightsHash}:${replacementFingerprint(r)}` : bundle.weightsHash;
    const key = cacheKey({ weightsHash: hash, kind: `frozen-${mode}`, version: ATTRIBUTION_GRAPH_VERSION, options: { ...graphOpts, outputs: 'mlp_out' } });
    const model = cachedModel(opts.cacheDir ?? defaultCacheDir(), key, () => buildInterventionGraph(bundle.spec, { ...graphOpts, skip })).model;
    return new FrozenAttentionRunner(bundle, await createSession(model, opts), mode);
  }

  /** `extra` is mlp_out_delta ('intervention') or the MLP constants ('replacement'), [L, T, d]. */
  async run(frozen: FrozenForward, extra: Float32Array, resid0?: Float32Array): Promise<FrozenRun> {
    const spec = this.bundle.spec;
    const L = spec.nLayers, T = frozen.T, d = spec.dModel;
    let r0 = resid0;
    if (!r0) {
      r0 = Float32Array.from(frozen.embeddings);
      if (frozen.posEmbed) for (let i = 0; i < r0.length; i++) r0[i] += frozen.posEmbed[i];
    }
    const feeds: Record<string, ort.Tensor> = {
      [N.resid0]: new ort.Tensor('float32', r0, [T, d]),
      [this.mode === 'replacement' ? N.mlpConst : N.mlpOutDelta]: new ort.Tensor('float32', extra, [L, T, d]),
    };
    const want = new Set(this.session.inputNames);
    const put = (name: string, data: Float32Array, dims: number[]) => {
      if (want.has(name)) feeds[name] = new ort.Tensor('float32', data, dims);
    };
    for (let l = 0; l < L; l++) {
      put(N.pattern(l), densePatterns(frozen, 'Interventions and verification')[l], [spec.blocks[l].attn.nHeads, T, T]);
      put(N.ln1Scale(l), frozen.ln1[l], [T]);
      if (frozen.ln1Post.length) put(N.ln1PostScale(l), frozen.ln1Post[l], [T]);
      put(N.ln2Scale(l), frozen.ln2[l], [T]);
      if (frozen.ln2Post.length) put(N.ln2PostScale(l), frozen.ln2Post[l], [T]);
    }
    put(N.lnfScale, frozen.lnf, [T]);
    const out = await this.session.run(feeds);
    return {
      logits: out[N.logits].data as Float32Array,
      logitsRaw: out[N.logitsRaw].data as Float32Array,
      tcIn: Array.from({ length: L }, (_, l) => out[N.tcIn(l)].data as Float32Array),
      mlpOut: this.mode === 'replacement' ? undefined : Array.from({ length: L }, (_, l) => out[N.mlpOut(l)].data as Float32Array),
    };
  }
}
