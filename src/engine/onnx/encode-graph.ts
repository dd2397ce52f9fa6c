/**
 * The transcoder encode graph: from each layer's transcoder input and the MLP's real output, the
 * active features (sparse, found inside the graph so a [T, F] activation matrix never reaches the host),
 * their activations and pre-activations, and the error vectors (real output − reconstruction).
 *
 * Inputs per layer l: x_{l} [T, d] (the transcoder input), y_{l} [T, d] (hook_mlp_out).
 * Outputs per layer l: idx_{l} [nnz, 2] int64 (position, feature) in row-major order,
 *   act_{l} [nnz], pre_{l} [nnz], err_{l} [T, d].
 * A CLT's reconstruction of layer j sums the decoders of every layer i ≤ j.
 * The host feeds chunks of positions to bound the [T, F] intermediate.
 */
import type { Replacement } from '../attribution/replacement';
import { GraphBuilder, int, ints } from './builder';

export const encodeNames = {
  x: (l: number) => `x_${l}`,
  y: (l: number) => `y_${l}`,
  idx: (l: number) => `idx_${l}`,
  act: (l: number) => `act_${l}`,
  pre: (l: number) => `pre_${l}`,
  err: (l: number) => `err_${l}`,
} as const;

export function buildEncodeGraph(r: Replacement, dModel: number): GraphBuilder {
  const b = new GraphBuilder(`${r.name}-encode`);
  const L = r.layers.length;
  const d = dModel;
  const recon: string[][] = Array.from({ length: L }, () => []);
  const xs: string[] = [];
  for (let l = 0; l < L; l++) {
    const t = r.layers[l];
    const F = t.wEnc.rows;
    const x = b.input(encodeNames.x(l), 'float', ['T', d]);
    xs.push(x);
    const wEnc = b.init(`w_enc_${l}`, t.wEnc.data, [F, d]);
    const pre = b.op('Add', [b.op('MatMul', [x, b.op('Transpose', [wEnc], { perm: ints([1, 0]) })]), b.init(`b_enc_${l}`, t.bEnc, [F])]);
    let act: string;
    if (r.activation === 'jumprelu') {
      if (!t.threshold) throw new Error(`layer ${l}: JumpReLU transcoder without thresholds`);
      const th = b.init(`threshold_${l}`, t.threshold, [F]);
      act = b.op('Where', [b.op('Greater', [pre, th]), pre, b.scalar(0)]);
    } else {
      act = b.op('Relu', [pre]);
    }
    const idx = b.op('Transpose', [b.op('NonZero', [act])], { perm: ints([1, 0]) }); // [nnz, 2]
    b.output(idx, encodeNames.idx(l), 'int64', ['nnz' + l, 2]);
    b.output(b.op('GatherND', [act, idx]), encodeNames.act(l), 'float', ['nnz' + l]);
    b.output(b.op('GatherND', [pre, idx]), encodeNames.pre(l), 'float', ['nnz' + l]);
    const span = r.kind === 'clt' ? L - l : 1;
    const dec = b.op('MatMul', [act, b.init(`w_dec_${l}`, t.wDec.data, [F, span * d])]); // [T, span*d]
    if (span === 1) recon[l].push(dec);
    else {
      const per = b.op('Reshape', [dec, b.constI64([0, span, d])]);
      for (let k = 0; k < span; k++) recon[l + k].push(b.op('Gather', [per, b.constI64([k], [])], { axis: int(1) }));
    }
  }
  for (let l = 0; l < L; l++) {
    const t = r.layers[l];
    const y = b.input(encodeNames.y(l), 'float', ['T', d]);
    let rec = b.op('Add', [recon[l].reduce((a, v) => b.op('Add', [a, v])), b.init(`b_dec_${l}`, t.bDec, [d])]);
    if (t.wSkip) {
      const ws = b.init(`w_skip_${l}`, t.wSkip.data, [d, d]);
      rec = b.op('Add', [rec, b.op('MatMul', [xs[l], ws])]);
    }
    b.output(b.op('Sub', [y, rec]), encodeNames.err(l), 'float', ['T', d]);
  }
  return b;
}
