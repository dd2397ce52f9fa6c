/**
 * Large working memory kept from one analysis to the next on the same backward session.
 *
 * An analysis of a d768 × 12-layer model at 64 tokens writes ~1.2 GB of decoder blocks and ~1.3 GB of
 * stored rows. Filling fresh memory that large costs mostly first-touch page faults, not the copy:
 * measured on the bench VM (which hands freed pages back to its host), allocating and filling 110 MB
 * takes ~0.7 s of CPU, writing the same memory once touched ~0.01 s; on a desktop the ratio is smaller
 * but the faults still dominate. So each kind of memory of the last analysis is kept (for KEEP_MS after
 * it ends, then dropped so an idle engine does not hold it) and the next analysis reuses it. One
 * analysis at a time uses a kind; a concurrent one gets fresh memory that is not kept.
 */

/** How long memory is kept after the analysis that used it ends. */
export const KEEP_MS = 60_000;

interface Pool {
  value?: unknown;
  busy: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

const pools = new WeakMap<object, Map<string, Pool>>();

export interface Kept<T> {
  value: T;
  /** Hands the memory back for the owner's next analysis (idempotent). */
  release(): void;
}

/**
 * The `kind` memory of `owner` for one analysis: `make(previous)` returns what to use, given what the
 * last analysis left (undefined when nothing is kept or another analysis holds it).
 */
export function takeKept<T>(owner: object, kind: string, make: (previous: T | undefined) => T): Kept<T> {
  let byKind = pools.get(owner);
  if (!byKind) pools.set(owner, (byKind = new Map()));
  let pool = byKind.get(kind);
  if (!pool) byKind.set(kind, (pool = { busy: false }));
  if (pool.busy) return { value: make(undefined), release: () => undefined };
  const p = pool;
  p.busy = true;
  if (p.timer) clearTimeout(p.timer);
  p.timer = undefined;
  const previous = p.value as T | undefined;
  p.value = undefined; // what `make` drops is garbage before anything new is allocated
  const value = make(previous);
  p.value = value;
  let released = false;
  return {
    value,
    release: () => {
      if (released) return;
      released = true;
      p.busy = false;
      p.timer = setTimeout(() => {
        if (!p.busy) p.value = undefined;
        p.timer = undefined;
      }, KEEP_MS);
      p.timer.unref?.();
    },
  };
}

/** Drops every kind of memory `owner` keeps now (an engine being closed), instead of after KEEP_MS. */
export function dropKeptMemory(owner: object): void {
  for (const p of pools.get(owner)?.values() ?? []) {
    if (p.timer) clearTimeout(p.timer);
    p.timer = undefined;
    if (!p.busy) p.value = undefined;
  }
}
