/**
 * The transcoder set as the attribution engine sees it: per layer an encoder, a decoder and an
 * activation, reading at one hook and writing at hook_mlp_out. Per-layer transcoders (PLT) decode into
 * their own layer; a cross-layer transcoder (CLT) feature of layer i decodes into every layer j ≥ i.
 *
 * Conventions (row = one feature): wEnc [F, d]; PLT wDec [F, d]; CLT wDec [F, (L − i)·d] with the
 * vector written into layer i + k at columns k·d … (k+1)·d; skip = x @ wSkip with wSkip [d, d].
 * (The same layouts as dictionaries/types.ts; ./from-dictionary.ts checks and adapts a Dictionary.)
 */
import type { Mat, Vec } from '../model-spec';
import type { TranscoderInputHook } from '../onnx/backward-graph';

export interface ReplacementLayer {
  wEnc: Mat;
  bEnc: Vec;
  /** JumpReLU thresholds; absent for ReLU. */
  threshold?: Vec;
  wDec: Mat;
  /** Output bias added at this layer (for a CLT: the bias of the reconstruction of this layer). */
  bDec: Vec;
  wSkip?: Mat;
}

export interface Replacement {
  kind: 'plt' | 'clt';
  activation: 'jumprelu' | 'relu';
  inputHook: TranscoderInputHook;
  layers: ReplacementLayer[];
  /** A stable identifier of the set (for graph metadata `scan` and cache keys). */
  name: string;
}

/** Number of output layers feature rows of `layer` decode into. */
export function decodeSpan(r: Replacement, layer: number): number {
  return r.kind === 'clt' ? r.layers.length - layer : 1;
}
