/**
 * The adjacency matrix of an attribution graph, kept sparse (CSR by target row) so prompts of thousands
 * of tokens never allocate a dense n × n matrix: A[t, s] is the direct effect of source s on target t.
 * Only features and logits have rows; embeddings and errors are pure sources.
 */

export interface Csr {
  nNodes: number;
  /** nNodes + 1 offsets into col / val. */
  rowPtr: Int32Array;
  col: Int32Array;
  val: Float32Array;
}

/** Builds CSR from parallel COO arrays (any order). */
export function csrFromCoo(nNodes: number, target: Int32Array, source: Int32Array, weight: Float32Array): Csr {
  const rowPtr = new Int32Array(nNodes + 1);
  for (let e = 0; e < target.length; e++) rowPtr[target[e] + 1]++;
  for (let i = 0; i < nNodes; i++) rowPtr[i + 1] += rowPtr[i];
  const fill = rowPtr.slice(0, nNodes);
  const col = new Int32Array(target.length);
  const val = new Float32Array(target.length);
  for (let e = 0; e < target.length; e++) {
    const p = fill[target[e]]++;
    col[p] = source[e];
    val[p] = weight[e];
  }
  return { nNodes, rowPtr, col, val };
}

/** Per-row sums of |A| (clamped as circuit-tracer's normalize_matrix does), the row normaliser. */
export function rowAbsSums(a: Csr): Float64Array {
  const s = new Float64Array(a.nNodes);
  for (let r = 0; r < a.nNodes; r++) {
    let acc = 0;
    for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) acc += Math.abs(a.val[p]);
    s[r] = Math.max(acc, 1e-10);
  }
  return s;
}

/**
 * Bump allocation of stored rows (column and value arrays side by side) in large chunks, rewound for the
 * next analysis: with a kept arena (kept-memory.ts) the rows of a later analysis land in memory already
 * touched instead of ~1 GB of fresh pages on a d768 model.
 */
export class RowArena {
  private readonly chunks: ArrayBuffer[] = [];
  private chunk = 0;
  private offset = 0;

  constructor(private readonly chunkBytes = 64 << 20) {}

  alloc(n: number): { col: Int32Array; val: Float32Array } {
    const bytes = 8 * n;
    for (;;) {
      const buf = this.chunks[this.chunk];
      if (!buf) {
        this.chunks.push(new ArrayBuffer(Math.max(this.chunkBytes, bytes)));
        continue;
      }
      if (this.offset + bytes <= buf.byteLength) {
        const col = new Int32Array(buf, this.offset, n);
        const val = new Float32Array(buf, this.offset + 4 * n, n);
        this.offset += bytes;
        return { col, val };
      }
      this.chunk++;
      this.offset = 0;
    }
  }

  /** Every earlier row's memory handed out again (their views must no longer be read). */
  rewind(): this {
    this.chunk = 0;
    this.offset = 0;
    return this;
  }
}

/**
 * Accumulates sparse rows as they are computed. Entries whose magnitude is below
 * `tolerance` × (mean |entry| of the row) are dropped: the dropped mass is then below `tolerance` of
 * the row's L1 norm, which bounds the change to every row-normalised influence computation. Exact
 * zeros (sources after the target's position or layer) are always dropped.
 */
export class RowStore {
  private readonly rows = new Map<number, { col: Int32Array; val: Float32Array }>();

  constructor(
    private readonly tolerance: number,
    private readonly arena?: RowArena,
  ) {}

  private allocRow(n: number): { col: Int32Array; val: Float32Array } {
    return this.arena ? this.arena.alloc(n) : { col: new Int32Array(n), val: new Float32Array(n) };
  }

  add(target: number, dense: Float32Array, start = 0, length = dense.length - start): void {
    let l1 = 0, nz = 0;
    for (let i = 0; i < length; i++) {
      const v = dense[start + i];
      if (v !== 0) {
        l1 += Math.abs(v);
        nz++;
      }
    }
    const cut = nz ? (this.tolerance * l1) / nz : 0;
    let n = 0;
    for (let i = 0; i < length; i++) {
      const v = dense[start + i];
      if (v !== 0 && Math.abs(v) >= cut) n++;
    }
    const { col, val } = this.allocRow(n);
    let k = 0;
    for (let i = 0; i < length; i++) {
      const v = dense[start + i];
      if (v !== 0 && Math.abs(v) >= cut) {
        col[k] = i;
        val[k++] = v;
      }
    }
    this.rows.set(target, { col, val });
  }

  /**
   * Like `add`, from a row's non-zero entries (col ascending), as BackwardSweep.runSparse gives them:
   * the same tolerance, without a dense row.
   */
  addSparse(target: number, col: Int32Array, val: Float32Array, n: number): void {
    let l1 = 0;
    for (let i = 0; i < n; i++) l1 += Math.abs(val[i]);
    const cut = n ? (this.tolerance * l1) / n : 0;
    let m = 0;
    for (let i = 0; i < n; i++) if (Math.abs(val[i]) >= cut) m++;
    const { col: c, val: v } = this.allocRow(m);
    for (let i = 0, k = 0; i < n; i++) {
      if (Math.abs(val[i]) >= cut) {
        c[k] = col[i];
        v[k++] = val[i];
      }
    }
    this.rows.set(target, { col: c, val: v });
  }

  /** The stored rows (target, entries), in the order they were added. */
  entries(): IterableIterator<[number, { col: Int32Array; val: Float32Array }]> {
    return this.rows.entries();
  }

  get(target: number): { col: Int32Array; val: Float32Array } | undefined {
    return this.rows.get(target);
  }

  has(target: number): boolean {
    return this.rows.has(target);
  }

  /**
   * CSR over `nNodes` nodes with node ids remapped by `map` (−1 drops a node, as a row or a column);
   * every stored id (row or column) must be below `nIds`.
   */
  toCsr(nNodes: number, map: (node: number) => number, nIds: number): Csr {
    // `map` read once per id into a table: the passes below then cost a typed-array lookup per entry
    // instead of a call. `nIds` is one past the largest id a row or a column may hold.
    const to = new Int32Array(nIds);
    for (let i = 0; i < nIds; i++) to[i] = map(i);
    const rowPtr = new Int32Array(nNodes + 1);
    const entries: [number, Int32Array, Float32Array][] = [];
    let total = 0;
    for (const [t, r] of this.rows) {
      const nt = to[t];
      if (nt < 0) continue;
      let n = 0;
      const c = r.col;
      for (let i = 0; i < c.length; i++) if (to[c[i]] >= 0) n++;
      rowPtr[nt + 1] = n;
      total += n;
      entries.push([nt, c, r.val]);
    }
    for (let i = 0; i < nNodes; i++) rowPtr[i + 1] += rowPtr[i];
    const col = new Int32Array(total);
    const val = new Float32Array(total);
    for (const [nt, c, v] of entries) {
      let p = rowPtr[nt];
      for (let i = 0; i < c.length; i++) {
        const m = to[c[i]];
        if (m >= 0) {
          col[p] = m;
          val[p++] = v[i];
        }
      }
    }
    return { nNodes, rowPtr, col, val };
  }
}
