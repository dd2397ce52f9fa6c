/**
 * On-disk cache of built ONNX models, keyed by the weights hash, the graph kind, the build options and
 * the graph builder's version: a second run on the same model skips building and serialising the graph.
 *
 * Files are written to a temporary name and renamed, so a crash or a concurrent writer never leaves a
 * half-written model that a later run would load.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../errors';
import type { GraphBuilder } from './builder';

/** The cache keeps at most this many bytes, dropping the least recently used graphs (a graph of a big
 *  model holds a full copy of its weights). The newest entry is always kept. */
export const CACHE_MAX_BYTES = 20 * 1024 ** 3;

/** Above this many bytes of weights the model goes to ONNX external data (protobuf stops at 2 GB). */
export const EXTERNAL_DATA_THRESHOLD = 1.5 * 1024 ** 3;

export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg) return join(xdg, 'circuit-inspector');
  const home = homedir();
  if (home && existsSync(join(home, '.cache'))) return join(home, '.cache', 'circuit-inspector');
  return join(tmpdir(), 'circuit-inspector-cache');
}

export interface CacheKeyParts {
  weightsHash: string;
  kind: string;
  version: number;
  options: Record<string, unknown>;
}

export function cacheKey(p: CacheKeyParts): string {
  const h = createHash('sha256').update(JSON.stringify([p.weightsHash, p.kind, p.version, p.options])).digest('hex');
  return `${p.kind}-${h.slice(0, 24)}`;
}

export interface CachedModel {
  /** A model file path (cache hit or external data), or the model bytes when nothing could be written. */
  model: string | Uint8Array;
  hit: boolean;
}

/**
 * Returns the cached model for `key`, or builds it with `build()` and stores it. Small models are
 * handed to onnxruntime as bytes (no re-read); large ones are written with external data and loaded
 * from the file. A cache directory that cannot be written is not an error for small models.
 */
export function cachedModel(
  cacheDir: string,
  key: string,
  build: () => GraphBuilder,
  precision: 'f32' | 'f16' = 'f32',
  externalDataThreshold = EXTERNAL_DATA_THRESHOLD,
): CachedModel {
  const dir = join(cacheDir, key);
  const modelPath = join(dir, 'model.onnx');
  const done = join(dir, 'complete');
  if (existsSync(done) && existsSync(modelPath)) {
    touch(done);
    return { model: modelPath, hit: true };
  }
  const builder = build();
  // Half precision halves the serialised weights.
  const big = builder.weightBytes() / (precision === 'f16' ? 2 : 1) > externalDataThreshold;
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  let bytes: Uint8Array | undefined;
  try {
    mkdirSync(tmp, { recursive: true });
    bytes = big ? builder.toBytesWithExternalData(join(tmp, 'model.onnx.data'), 1024, { precision }) : builder.toBytes({ precision });
    writeFileSync(join(tmp, 'model.onnx'), bytes);
    writeFileSync(join(tmp, 'complete'), new Date().toISOString());
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    evict(cacheDir, CACHE_MAX_BYTES, key);
    return { model: big ? modelPath : bytes, hit: false };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    // Another process may have stored the same model meanwhile.
    if (existsSync(done) && existsSync(modelPath)) return { model: modelPath, hit: true };
    if (big) {
      throw new EngineError(
        'INTERNAL',
        `Could not write the ONNX model for this ${(builder.weightBytes() / 1024 ** 3).toFixed(1)} GB model to ${cacheDir}: ${(e as Error).message}`,
        'Models this large load from a file: free disk space there, or point the cache elsewhere (XDG_CACHE_HOME).',
      );
    }
    return { model: bytes ?? builder.toBytes({ precision }), hit: false };
  }
}

function touch(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // A read-only cache still serves hits; it just cannot record their recency.
  }
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    const st = statSync(join(dir, f));
    n += st.isDirectory() ? dirBytes(join(dir, f)) : st.size;
  }
  return n;
}

/** Deletes least recently used entries until the cache fits in `maxBytes` (never the entry `keep`). */
export function evict(cacheDir: string, maxBytes: number, keep: string): void {
  try {
    const entries = readdirSync(cacheDir)
      .filter((k) => !k.includes('.tmp-') && existsSync(join(cacheDir, k, 'complete')))
      .map((k) => ({ k, used: statSync(join(cacheDir, k, 'complete')).mtimeMs, bytes: dirBytes(join(cacheDir, k)) }))
      .sort((a, b) => a.used - b.used);
    let total = entries.reduce((a, e) => a + e.bytes, 0);
    for (const e of entries) {
      if (total <= maxBytes) break;
      if (e.k === keep) continue;
      rmSync(join(cacheDir, e.k), { recursive: true, force: true });
      total -= e.bytes;
    }
  } catch {
    // Eviction is housekeeping: a cache another process is changing must not fail a run.
  }
}
