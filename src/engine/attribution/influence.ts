/**
 * Influence of every node on the target logits, on the sparse adjacency (circuit-tracer's
 * compute_influence / compute_partial_influences): with Â the row-normalised |A| and w the logit
 * weights (their probabilities), influence = w·Â + w·Â² + … = w·((I − Â)⁻¹ − I).
 *
 * The graph is a DAG (a target only receives from earlier layers or positions), so Â is nilpotent and
 * the series ends after at most (layers + 2) steps; each step touches only rows whose current weight is
 * non-zero. No n × n matrix is ever formed.
 */
import { EngineError } from '../errors';
import { rowAbsSums, type Csr } from './sparse';

export function influenceOnCsr(a: Csr, logitWeights: Float64Array, maxIter = 1000): Float64Array {
  const n = a.nNodes;
  const norm = rowAbsSums(a);
  const influence = new Float64Array(n);
  let cur = Float64Array.from(logitWeights);
  for (let it = 0; ; it++) {
    const next = new Float64Array(n);
    let any = false;
    for (let r = 0; r < n; r++) {
      const w = cur[r];
      if (w === 0) continue;
      const s = w / norm[r];
      for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) {
        const v = a.val[p];
        if (v !== 0) {
          next[a.col[p]] += s * Math.abs(v);
          any = true;
        }
      }
    }
    if (!any) break;
    if (it >= maxIter) throw new EngineError('INTERNAL', `Influence did not converge in ${maxIter} steps: the graph has a cycle.`);
    for (let i = 0; i < n; i++) influence[i] += next[i];
    cur = next;
  }
  return influence;
}
