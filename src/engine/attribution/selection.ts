/**
 * Selection without sorting, for pruning and feature ranking on typed arrays: the k-th largest value
 * (Hoare's selection), and the value at which the largest entries first carry a given fraction of the
 * total (circuit-tracer's find_threshold, by weighted selection). Both reorder the array they are given
 * and run in expected linear time.
 */

/** The value that would be at index `k` of `a` sorted descending (reorders `a`). */
export function selectDescending(a: Float64Array, k: number): number {
  let lo = 0, hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/**
 * The score s such that the entries ≥ s, summed largest first, are the first to reach `threshold` of the
 * total of `vals[0..m)` (non-negative scores): what a descending sort and a running sum would return
 * (find_threshold), found by three-way partitions that keep the mass above the range being searched.
 * When no prefix reaches the threshold (a total of 0), 0: every entry is kept. Reorders `vals[0..m)`.
 * `above` is mass known to lie above every entry given (with `total`, when the entries are one bucket
 * of a larger set: see ScoreHistogram).
 */
export function cumulativeThreshold(vals: Float64Array, m: number, threshold: number, above = 0, total = NaN): number {
  if (Number.isNaN(total)) {
    total = 0;
    for (let i = 0; i < m; i++) total += vals[i];
  }
  if (!(total > 0)) return 0;
  let lo = 0, hi = m;
  while (lo < hi) {
    const pivot = median3(vals[lo], vals[(lo + hi) >> 1], vals[hi - 1]);
    // [lo, gt) > pivot, [gt, lt) = pivot, [lt, hi) < pivot.
    let gt = lo, i = lo, lt = hi, sumGreater = 0;
    while (i < lt) {
      const v = vals[i];
      if (v > pivot) {
        vals[i] = vals[gt];
        vals[gt++] = v;
        sumGreater += v;
        i++;
      } else if (v < pivot) {
        vals[i] = vals[--lt];
        vals[lt] = v;
      } else i++;
    }
    if (gt > lo && (above + sumGreater) / total >= threshold) {
      hi = gt;
      continue;
    }
    const withTies = above + sumGreater + (lt - gt) * pivot;
    if (withTies / total >= threshold) return pivot;
    above = withTies;
    lo = lt;
  }
  return 0;
}

function median3(a: number, b: number, c: number): number {
  if (a > b) [a, b] = [b, a];
  if (b > c) b = c;
  return a > b ? a : b;
}

/**
 * find_threshold over millions of edge scores in two cheap passes instead of a sort: scores are binned
 * by their top 16 bits (sign, exponent and 4 mantissa bits: bins ordered as the values are, each
 * spanning 1/16 of a binade), bin sums locate the bin where the running sum crosses the threshold, and
 * only that bin's entries are selected exactly (cumulativeThreshold). The bins are reused between calls.
 */
export class ScoreHistogram {
  private readonly sums = new Float64Array(1 << 16);
  private bucket = new Float64Array(1024);

  /**
   * The threshold of `scores[0..m)` (non-negative, not NaN) for the fraction `threshold`; `scores` is
   * left as it was.
   */
  threshold(scores: Float64Array, m: number, threshold: number): number {
    const sums = this.sums;
    sums.fill(0);
    // Little-endian: the high word of entry i is word 2i + 1.
    const hiWords = new Uint32Array(scores.buffer, scores.byteOffset, 2 * m);
    let total = 0;
    for (let i = 0; i < m; i++) {
      const v = scores[i];
      sums[hiWords[2 * i + 1] >>> 16] += v;
      total += v;
    }
    if (!(total > 0)) return 0;
    let above = 0, bin = -1;
    for (let b = sums.length - 1; b >= 0; b--) {
      if (sums[b] === 0) continue;
      if ((above + sums[b]) / total >= threshold) {
        bin = b;
        break;
      }
      above += sums[b];
    }
    if (bin < 0) return 0; // rounding kept the running sum under the threshold: keep everything
    let n = 0;
    for (let i = 0; i < m; i++) if (hiWords[2 * i + 1] >>> 16 === bin) n++;
    if (this.bucket.length < n) this.bucket = new Float64Array(Math.max(n, 2 * this.bucket.length));
    const vals = this.bucket;
    for (let i = 0, k = 0; i < m; i++) if (hiWords[2 * i + 1] >>> 16 === bin) vals[k++] = scores[i];
    const t = cumulativeThreshold(vals, n, threshold, above, total);
    // Rounding can leave the bin's own selection short of the threshold: then every entry of the bin is kept.
    return t === 0 ? smallest(vals, n) : t;
  }
}

function smallest(a: Float64Array, n: number): number {
  let s = Infinity;
  for (let i = 0; i < n; i++) if (a[i] < s) s = a[i];
  return s;
}
