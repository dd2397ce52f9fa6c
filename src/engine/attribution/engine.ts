/**
 * The onnxruntime sessions attribution needs for one (model, dictionary) pair: the forward runner,
 * the transcoder encode graph and the linearised backward graph. Built once, kept for later prompts,
 * and stored in the on-disk graph cache keyed by the weights hash and a fingerprint of the dictionary.
 */
import { createHash } from 'node:crypto';
import type { ModelBundle } from '../api';
import type { Dictionary } from '../dictionaries/types';
import { ForwardRunner } from '../forward';
import type { Mat } from '../model-spec';
import { buildBackwardGraph, decoderCutFor } from '../onnx/backward-graph';
import { cacheKey, cachedModel, defaultCacheDir } from '../onnx/cache';
import { buildEncodeGraph } from '../onnx/encode-graph';
import { createSession, type EngineSession, type ProviderName, type RuntimeOptions } from '../runtime';
import { replacementFromDictionary } from './from-dictionary';
import type { Replacement } from './replacement';

/** Bumped whenever the encode or backward graph changes, so stale cached graphs are not reused. */
export const ATTRIBUTION_GRAPH_VERSION = 9;

export interface EngineOptions extends RuntimeOptions {
  cacheDir?: string;
}

export interface AttributionEngine {
  bundle: ModelBundle;
  replacement: Replacement;
  forward: ForwardRunner;
  encode: EngineSession;
  backward: EngineSession;
  /** The backward session that rebuilds patterns in `blocks` key blocks (long prompts), opened on first use. */
  blockedBackward(blocks: number): Promise<EngineSession>;
  /** The runtime options it was built with (provider, threads, cache), for graphs built later. */
  options: EngineOptions;
  /** Releases every session (the blocked backward sessions too). */
  dispose(): Promise<void>;
}

/** Cheap, stable fingerprint of a dictionary's weights: shapes and sampled values of every matrix. */
export function replacementFingerprint(r: Replacement): string {
  const h = createHash('sha256');
  h.update(`${r.name}|${r.kind}|${r.activation}|${r.inputHook}`);
  const sample = (m: Mat | Float32Array | undefined): void => {
    if (!m) {
      h.update('-');
      return;
    }
    const data = m instanceof Float32Array ? m : m.data;
    h.update(`${data.length}`);
    const step = Math.max(1, Math.floor(data.length / 4096));
    const pick = new Float32Array(Math.ceil(data.length / step));
    for (let i = 0, k = 0; i < data.length; i += step) pick[k++] = data[i];
    h.update(new Uint8Array(pick.buffer));
  };
  for (const l of r.layers) [l.wEnc, l.bEnc, l.threshold, l.wDec, l.bDec, l.wSkip].forEach(sample);
  return h.digest('hex').slice(0, 32);
}

/**
 * Engines built for a (bundle, dictionary, runtime options) triple, so sessions and the convenience
 * functions over the same model and dictionary share one set of onnxruntime sessions. The options are
 * part of the key: asking for another provider or precision builds another engine.
 */
const engines = new WeakMap<ModelBundle, WeakMap<Dictionary, Map<string, Promise<AttributionEngine>>>>();

function optionsKey(o: EngineOptions): string {
  return JSON.stringify([o.provider ?? 'auto', o.precision ?? 'auto', o.threads ?? 0, o.cacheDir ?? '']);
}

export function attributionEngine(bundle: ModelBundle, dict: Dictionary, opts: EngineOptions = {}): Promise<AttributionEngine> {
  let byDict = engines.get(bundle);
  if (!byDict) engines.set(bundle, (byDict = new WeakMap()));
  let byOpts = byDict.get(dict);
  if (!byOpts) byDict.set(dict, (byOpts = new Map()));
  const key = optionsKey(opts);
  let e = byOpts.get(key);
  if (!e) {
    e = createEngine(bundle, replacementFromDictionary(dict, bundle.spec), opts);
    byOpts.set(key, e);
    e.catch(() => byOpts!.delete(key));
  }
  return e;
}

/** Releases the engine built for (bundle, dictionary, options), if any, and forgets it. */
export async function releaseAttributionEngine(bundle: ModelBundle, dict: Dictionary, opts: EngineOptions = {}): Promise<void> {
  const byOpts = engines.get(bundle)?.get(dict);
  const key = optionsKey(opts);
  const e = byOpts?.get(key);
  if (!e) return;
  byOpts!.delete(key);
  const engine = await e.catch(() => undefined);
  if (engine) await engine.dispose();
}

export async function createEngine(bundle: ModelBundle, replacement: Replacement, opts: EngineOptions = {}): Promise<AttributionEngine> {
  const dir = opts.cacheDir ?? defaultCacheDir();
  const fp = replacementFingerprint(replacement);
  const key = (kind: string, precision: 'f32' | 'f16') => cacheKey({ weightsHash: `${bundle.weightsHash}:${fp}`, kind, version: ATTRIBUTION_GRAPH_VERSION, options: { precision } });
  // Attribution runs in f32 unless f16 is asked for explicitly: in half precision a JumpReLU feature
  // near its threshold can switch on or off, so the graph itself changes (on a d=1024 random model on an
  // H200, f16 gave 1.41 M edges against 1.25 M in f32; on the embedded model edges stayed within 1.7e-3).
  // `auto` keeps f16 for the plain forward pass (hover, logit lens) where that does not matter.
  opts = { ...opts, precision: opts.precision === 'f16' ? 'f16' : 'f32' };
  const forward = await ForwardRunner.create(bundle, opts);
  // Each graph is built in the precision its provider runs best (f16 on GPUs, with the reductions —
  // the attribution dot products among them — accumulating in f32; see onnx/precision.ts).
  const encodeSource = (precision: 'f32' | 'f16') => cachedModel(dir, key('encode', precision), () => buildEncodeGraph(replacement, bundle.spec.dModel), precision).model;
  const backwardSource = (blocks?: number) => (precision: 'f32' | 'f16', provider: ProviderName) => {
    const decoderCut = decoderCutFor(provider);
    const kind = `backward${blocks ? `-blocked-${blocks}` : ''}-cut-${decoderCut}`;
    return cachedModel(dir, key(kind, precision), () => buildBackwardGraph(bundle.spec, { inputHook: replacement.inputHook, skip: replacement.layers.map((l) => l.wSkip), attentionBlocks: blocks, decoderCut }), precision).model;
  };
  // The backward sweep stays f32 on every provider: gradients several layers down are small (1e-5 and
  // below on wide models), where f16 has lost most of its significand to subnormals — measured on an
  // H200, f16 sweeps gave edges 90 % off on a d=1024 model while f16 forward + encode stayed within 1 %.
  const [encode, backward] = await Promise.all([createSession(encodeSource, opts), createSession(backwardSource(), { ...opts, precision: 'f32' })]);
  const blocked = new Map<number, Promise<EngineSession>>();
  return {
    bundle, replacement, forward, encode, backward, options: opts,
    blockedBackward(blocks) {
      let s = blocked.get(blocks);
      if (!s) {
        s = createSession(backwardSource(blocks), { ...opts, provider: backward.provider, precision: 'f32' });
        blocked.set(blocks, s);
        s.catch(() => blocked.delete(blocks));
      }
      return s;
    },
    async dispose() {
      const all = await Promise.all([...blocked.values()].map((s) => s.catch(() => undefined)));
      blocked.clear();
      await Promise.all([forward.dispose(), encode.release(), backward.release(), ...all.map((s) => s?.release())]);
    },
  };
}
