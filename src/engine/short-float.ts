/**
 * The shortest decimal (6 to 9 significant digits) that reads back as the same float32: graph files keep
 * edge weights in it, so JSON stays small and exact. A graph of a million edges converts a million
 * weights, so the digits are found by arithmetic — n = round(|f| · 10^k), the value n / 10^k, both exact
 * or correctly rounded — and the string route (`toPrecision`, the definition) is taken only where the
 * arithmetic could round differently: near a half-way point, or at magnitudes beyond exact powers of ten.
 */

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i); // exact doubles up to 1e22

/** The definition: the shortest `toPrecision(p)`, p = 6…9, that reads back as the same float32. */
export function shortF32Exact(x: number): number {
  const f = Math.fround(x);
  for (let p = 6; p < 9; p++) {
    const y = Number(f.toPrecision(p));
    if (Math.fround(y) === f) return y;
  }
  return Number(f.toPrecision(9));
}

/** The same number as shortF32Exact, computed without strings in all but rare cases. */
export function shortF32(x: number): number {
  const f = Math.fround(x);
  if (f === 0) return 0;
  if (!Number.isFinite(f)) return f;
  const a = Math.abs(f);
  const sign = f < 0 ? -1 : 1;
  let e = Math.floor(Math.log10(a));
  for (let p = 6; p <= 9; p++) {
    let y = NaN;
    for (let tries = 0; tries < 2 && Number.isNaN(y); tries++) {
      const k = p - 1 - e;
      if (k > 22 || k < -22) return shortF32Exact(f);
      const s = k >= 0 ? a * POW10[k] : a / POW10[-k];
      const frac = s - Math.floor(s);
      if (Math.abs(frac - 0.5) < 1e-6) return shortF32Exact(f);
      const n = Math.round(s);
      // log10 can miss the decade by one: then n has the wrong number of digits; fix e and redo.
      if (n < POW10[p - 1]) e--;
      else if (n > POW10[p]) e++;
      else y = k >= 0 ? n / POW10[k] : n * POW10[-k];
    }
    if (Number.isNaN(y)) return shortF32Exact(f);
    if (p === 9 || Math.fround(sign * y) === f) return sign * y;
  }
  return shortF32Exact(f);
}
