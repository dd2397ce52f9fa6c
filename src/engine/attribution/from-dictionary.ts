/**
 * Checks that a loaded dictionary can serve as the replacement model of attribution (transcoders or
 * a CLT covering every layer, reading resid_mid or the MLP input, writing hook_mlp_out, ReLU or
 * JumpReLU) and adapts it. Users get an actionable error instead of a wrong graph.
 */
import type { Dictionary } from '../dictionaries/types';
import { EngineError } from '../errors';
import { hooks, type ModelSpec } from '../model-spec';
import type { TranscoderInputHook } from '../onnx/backward-graph';
import type { Replacement, ReplacementLayer } from './replacement';

export function replacementFromDictionary(dict: Dictionary, spec: ModelSpec): Replacement {
  if (dict.kind === 'sae') {
    throw new EngineError('DICTIONARY_INVALID', `${dict.name} is a residual-stream SAE: it gives SAE graphs (attribution patching), but transcoder graphs, steering, verification and circuit tests need transcoders or a cross-layer transcoder.`, 'Choose a transcoder set (circuit-tracer layout, a CLT or Gemma Scope transcoders) for this.');
  }
  if (dict.dModel !== spec.dModel) {
    throw new EngineError('DICTIONARY_MISMATCH', `${dict.name} has d_model ${dict.dModel}, but ${spec.name} has ${spec.dModel}.`, 'Use the transcoders trained on this model.');
  }
  const L = spec.nLayers;
  if (dict.layers.length !== L || dict.layers.some((l, i) => l !== i)) {
    throw new EngineError('DICTIONARY_MISMATCH', `${dict.name} covers layers [${dict.layers.join(', ')}], but attribution needs a transcoder at every layer 0..${L - 1} of ${spec.name}.`, 'Use a complete transcoder set for this model.');
  }
  const act = dict.activation.kind;
  if (act !== 'relu' && act !== 'jumprelu') {
    throw new EngineError('DICTIONARY_INVALID', `${dict.name} uses a ${act} activation; attribution supports ReLU and JumpReLU transcoders.`, 'Use ReLU or JumpReLU transcoders.');
  }
  let inputHook: TranscoderInputHook | undefined;
  const layers: ReplacementLayer[] = [];
  for (let l = 0; l < L; l++) {
    const inp = dict.inputHook(l);
    const h: TranscoderInputHook | undefined = inp === hooks.residMid(l) ? 'resid_mid' : inp === hooks.mlpIn(l) ? 'mlp_in' : undefined;
    if (!h || (inputHook && h !== inputHook)) {
      throw new EngineError('DICTIONARY_INVALID', `${dict.name} layer ${l} reads ${inp}; attribution supports transcoders reading ${hooks.residMid(l)} or ${hooks.mlpIn(l)} (the same at every layer).`, 'Use transcoders that replace the MLPs.');
    }
    inputHook = h;
    if (dict.outputHook(l) !== hooks.mlpOut(l)) {
      throw new EngineError('DICTIONARY_INVALID', `${dict.name} layer ${l} writes ${dict.outputHook(l)}; attribution needs transcoders writing ${hooks.mlpOut(l)}.`, 'Use transcoders that replace the MLPs.');
    }
    const threshold = dict.threshold(l);
    if (act === 'jumprelu' && !threshold) {
      throw new EngineError('DICTIONARY_INVALID', `${dict.name} layer ${l} is JumpReLU but has no thresholds.`, 'The transcoder files are incomplete.');
    }
    layers.push({ wEnc: dict.encoder(l), bEnc: dict.bEnc(l), threshold: act === 'jumprelu' ? threshold : undefined, wDec: dict.decoder(l), bDec: dict.bDec(l), wSkip: dict.wSkip(l) });
  }
  return { kind: dict.kind === 'clt' ? 'clt' : 'plt', activation: act, inputHook: inputHook ?? 'mlp_in', layers, name: dict.name };
}
