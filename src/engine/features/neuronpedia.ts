/**
 * Published labels: Neuronpedia's feature exports for a dictionary, read so that a real model's
 * features show their published explanations (and published activation examples) next to the
 * dashboards built here.
 *
 * Accepted, as Neuronpedia serves them (each file may be gzipped, `.gz`):
 * - the explanation export (`/api/explanation/export?modelId=…&saeId=…`): a JSON array of
 *   `{ modelId, layer: "12-gemmascope-transcoder-16k", index: "123", description, explanationModelName, … }`;
 * - the bulk dataset's JSONL batches (`explanations/batch-N.jsonl.gz`, `activations/batch-N.jsonl.gz`):
 *   one explanation as above, or one activation `{ layer, index, tokens: [...], values: [...], maxValue }`, per line;
 * - feature objects as the feature API returns them (`/api/feature/{model}/{layer}/{index}`):
 *   `{ layer, index, explanations: [{ description }], activations: [{ tokens, values }] }`, one per
 *   file, in an array, or one per JSONL line.
 * The layer is the leading number of Neuronpedia's layer id ("12-gemmascope-…" → 12). Every value is
 * copied as a plain string or finite number; the files are data and nothing in them is executed.
 */
import { gunzipSync } from 'node:zlib';
import { EngineError } from '../errors';
import { hasOwn, parseUserJson, readUserFile } from '../user-files';
import { featureKey } from './store';

export interface PublishedExample {
  tokens: string[];
  values: number[];
}

export interface PublishedFeature {
  layer: number;
  index: number;
  /** The first explanation's description ('' when the export has only activations). */
  label: string;
  /** Who wrote it (Neuronpedia's explanationModelName or typeName), when the export says. */
  by?: string;
  /** Published activation examples, highest maximum activation first (at most MAX_EXAMPLES). */
  examples: PublishedExample[];
}

/** A JavaScript string holds at most ~512 M characters; a larger export comes in batches anyway. */
const MAX_FILE_BYTES = 512 * 1024 ** 2;
const MAX_STRING = 2000;
const MAX_TOKENS = 1024;
const MAX_EXAMPLES = 10;
const HINT = 'Pass Neuronpedia exports: the explanation export (JSON), the dataset batches (JSONL, optionally .gz) or feature JSON.';

/** 12 from "12-gemmascope-transcoder-16k", 12 or "12"; undefined otherwise. */
export function neuronpediaLayer(x: unknown): number | undefined {
  if (typeof x === 'number') return Number.isSafeInteger(x) && x >= 0 ? x : undefined;
  if (typeof x !== 'string') return undefined;
  const m = /^(\d{1,4})(?:-|$)/.exec(x.trim());
  return m ? Number(m[1]) : undefined;
}

function indexOf(x: unknown): number | undefined {
  const n = typeof x === 'number' ? x : typeof x === 'string' && /^\d{1,10}$/.test(x.trim()) ? Number(x) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function str(x: unknown): string | undefined {
  return typeof x === 'string' ? x.slice(0, MAX_STRING) : undefined;
}

function example(x: unknown): (PublishedExample & { max: number }) | undefined {
  const o = x as Record<string, unknown>;
  if (!Array.isArray(o.tokens) || !Array.isArray(o.values)) return undefined;
  const tokens = o.tokens.slice(0, MAX_TOKENS).map((t) => String(t).slice(0, 200));
  const values = o.values.slice(0, MAX_TOKENS).map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0));
  const max = typeof o.maxValue === 'number' && Number.isFinite(o.maxValue) ? o.maxValue : Math.max(0, ...values);
  return { tokens, values, max };
}

/** Published labels and examples by featureKey(layer, index). */
export class PublishedFeatures {
  private readonly byKey = new Map<number, PublishedFeature & { exMax: number[] }>();
  /** Records read and records skipped (no layer or index, or neither an explanation nor an activation). */
  records = 0;
  skipped = 0;

  get size(): number {
    return this.byKey.size;
  }

  get(layer: number, index: number): PublishedFeature | undefined {
    const f = this.byKey.get(featureKey(layer, index));
    return f && { layer: f.layer, index: f.index, label: f.label, ...(f.by ? { by: f.by } : {}), examples: f.examples };
  }

  private entry(layer: number, index: number): PublishedFeature & { exMax: number[] } {
    const k = featureKey(layer, index);
    let f = this.byKey.get(k);
    if (!f) this.byKey.set(k, (f = { layer, index, label: '', examples: [], exMax: [] }));
    return f;
  }

  private addExample(f: PublishedFeature & { exMax: number[] }, e: PublishedExample & { max: number }): void {
    // Kept best first; a repeated text is one example (exports often carry near-duplicates).
    const text = e.tokens.join('');
    if (f.examples.some((x) => x.tokens.join('') === text)) return;
    let at = f.exMax.findIndex((m) => e.max > m);
    if (at < 0) at = f.exMax.length;
    if (at >= MAX_EXAMPLES) return;
    f.examples.splice(at, 0, { tokens: e.tokens, values: e.values });
    f.exMax.splice(at, 0, e.max);
    f.examples.length = Math.min(f.examples.length, MAX_EXAMPLES);
    f.exMax.length = Math.min(f.exMax.length, MAX_EXAMPLES);
  }

  /** One record of any accepted shape. */
  add(rec: unknown): void {
    this.records++;
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) {
      this.skipped++;
      return;
    }
    const o = rec as Record<string, unknown>;
    const layer = neuronpediaLayer(o.layer);
    const index = indexOf(o.index);
    if (layer === undefined || index === undefined) {
      this.skipped++;
      return;
    }
    let used = false;
    const f = this.entry(layer, index);
    const setLabel = (e: Record<string, unknown>) => {
      const d = str(e.description)?.trim();
      if (!d || f.label) return;
      f.label = d;
      const by = str(e.explanationModelName) ?? str(e.typeName);
      if (by) f.by = by;
      used = true;
    };
    if (hasOwn(o, 'description')) setLabel(o);
    if (Array.isArray(o.explanations)) for (const e of o.explanations) if (typeof e === 'object' && e !== null) setLabel(e as Record<string, unknown>);
    const one = example(o);
    if (one) {
      this.addExample(f, one);
      used = true;
    }
    if (Array.isArray(o.activations)) {
      for (const a of o.activations) {
        const e = typeof a === 'object' && a !== null ? example(a) : undefined;
        if (e) {
          this.addExample(f, e);
          used = true;
        }
      }
    }
    if (!used) this.skipped++;
    if (!f.label && !f.examples.length) this.byKey.delete(featureKey(layer, index));
  }

  /** Reads export files (JSON or JSONL, each optionally gzipped) into one set. */
  static read(files: string[]): PublishedFeatures {
    const out = new PublishedFeatures();
    for (const file of files) {
      let bytes = readUserFile(file, 'The Neuronpedia export', 'DICTIONARY_INVALID', MAX_FILE_BYTES, HINT);
      if (/\.gz$/i.test(file)) {
        try {
          bytes = gunzipSync(bytes, { maxOutputLength: MAX_FILE_BYTES });
        } catch (e) {
          throw new EngineError('DICTIONARY_INVALID', `${file} is not a readable gzip file: ${(e as Error).message}.`, HINT);
        }
      }
      const text = bytes.toString('utf8');
      const name = file.replace(/\.gz$/i, '');
      if (/\.jsonl$/i.test(name)) {
        text.split('\n').forEach((line, i) => {
          if (line.trim()) out.add(parseUserJson(line, `${file} line ${i + 1}`, 'DICTIONARY_INVALID', HINT));
        });
      } else {
        const v = parseUserJson(text, file, 'DICTIONARY_INVALID', HINT);
        const list = Array.isArray(v) ? v : typeof v === 'object' && v !== null && Array.isArray((v as { explanations?: unknown }).explanations) && !hasOwn(v, 'index') ? (v as { explanations: unknown[] }).explanations : [v];
        for (const r of list) out.add(r);
      }
    }
    if (!out.size) {
      throw new EngineError('DICTIONARY_INVALID', `No feature explanation or activation was found in ${files.join(', ')} (${out.records} records, ${out.skipped} without a layer, index, description or activation).`, HINT);
    }
    return out;
  }
}
