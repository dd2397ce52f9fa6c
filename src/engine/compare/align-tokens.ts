/**
 * Token alignment between two prompts (a prompt and its counterfactual, or two paraphrases).
 *
 * Global alignment (Needleman–Wunsch) where a substitution is cheaper than a deletion plus an insertion,
 * so "Dallas is in …" and "Houston is in …" pair Dallas with Houston (same slot, different token) while
 * a prompt with one extra word pairs everything else and leaves the extra word unpaired. The last
 * positions are where the prediction is read; ties are broken towards pairing the ends, so two prompts
 * of different length still line up at the answer position.
 */

export interface AlignedColumn {
  /** Position in prompt A, or null where B has a token A lacks. */
  a: number | null;
  /** Position in prompt B, or null where A has a token B lacks. */
  b: number | null;
  /** Both positions present and the token texts equal. */
  same: boolean;
}

export interface TokenAlignment {
  columns: AlignedColumn[];
  /** Column of each A position. */
  columnOfA: Int32Array;
  /** Column of each B position. */
  columnOfB: Int32Array;
}

const MATCH = 0;
const SUBSTITUTE = 1;
const GAP = 1.5; // > SUBSTITUTE / 2 so that a substitution beats a gap pair, < SUBSTITUTE so a lone gap beats a shift

/** Aligns two token sequences; equal sequences give the identity. O(|A| × |B|) time and memory. */
export function alignTokens(a: readonly string[], b: readonly string[]): TokenAlignment {
  const n = a.length;
  const m = b.length;
  const cost = new Float64Array((n + 1) * (m + 1));
  const W = m + 1;
  for (let i = 1; i <= n; i++) cost[i * W] = i * GAP;
  for (let j = 1; j <= m; j++) cost[j] = j * GAP;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const diag = cost[(i - 1) * W + j - 1] + (a[i - 1] === b[j - 1] ? MATCH : SUBSTITUTE);
      const up = cost[(i - 1) * W + j] + GAP;
      const left = cost[i * W + j - 1] + GAP;
      cost[i * W + j] = Math.min(diag, up, left);
    }
  }
  // Trace back from the ends: prefer the diagonal (pairing) on ties, which keeps the last tokens paired.
  const rev: AlignedColumn[] = [];
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    const here = cost[i * W + j];
    if (i > 0 && j > 0 && here === cost[(i - 1) * W + j - 1] + (a[i - 1] === b[j - 1] ? MATCH : SUBSTITUTE)) {
      rev.push({ a: i - 1, b: j - 1, same: a[i - 1] === b[j - 1] });
      i--;
      j--;
    } else if (i > 0 && here === cost[(i - 1) * W + j] + GAP) {
      rev.push({ a: i - 1, b: null, same: false });
      i--;
    } else {
      rev.push({ a: null, b: j - 1, same: false });
      j--;
    }
  }
  const columns = rev.reverse();
  const columnOfA = new Int32Array(n).fill(-1);
  const columnOfB = new Int32Array(m).fill(-1);
  columns.forEach((c, k) => {
    if (c.a !== null) columnOfA[c.a] = k;
    if (c.b !== null) columnOfB[c.b] = k;
  });
  return { columns, columnOfA, columnOfB };
}
