/**
 * Feature labels and examples from `features/layer_{i}.json` beside a dictionary (the form the
 * project's trainer writes and Neuronpedia exports use): per feature `index`,
 * `explanations[0].description`, `activations` [{tokens, values}], `pos_str` / `pos_values`,
 * `neg_str` / `neg_values`, `frac_nonzero`. The file may be an array of such objects (with `index`, or
 * indexed by position) or an object keyed by the index. Files are read lazily, one layer at a time;
 * every value is copied into a fresh object as plain strings and finite numbers.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../errors';
import { readUserJson } from '../user-files';
import type { FeatureExample, FeatureInfo, LabelEvidence } from './types';

const MAX_FILE_BYTES = 512 * 1024 * 1024;
const MAX_EXAMPLES = 64;
const MAX_LIST = 256;
const MAX_STRING = 4096;

function own(o: unknown, k: string): unknown {
  return typeof o === 'object' && o !== null && Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined;
}
function strs(x: unknown): string[] {
  return Array.isArray(x) ? x.slice(0, MAX_LIST).map((v) => String(v).slice(0, MAX_STRING)) : [];
}
function nums(x: unknown): number[] {
  return Array.isArray(x) ? x.slice(0, MAX_LIST).map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)) : [];
}

function finite01(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : undefined;
}

/** The label's score: `label_f1` (or the older `label_score`), `label_precision`, `label_recall`,
 *  `latent`, `label_scored_against`. Absent when the file gives no F1. */
function toEvidence(raw: unknown): LabelEvidence | undefined {
  const f1 = finite01(own(raw, 'label_f1')) ?? finite01(own(raw, 'label_score'));
  if (f1 === undefined) return undefined;
  const e: LabelEvidence = { f1 };
  const p = finite01(own(raw, 'label_precision'));
  const r = finite01(own(raw, 'label_recall'));
  const latent = own(raw, 'latent');
  const against = own(raw, 'label_scored_against');
  if (p !== undefined) e.precision = p;
  if (r !== undefined) e.recall = r;
  if (typeof latent === 'string' && latent) e.latent = latent.slice(0, MAX_STRING);
  if (typeof against === 'string' && against) e.against = against.slice(0, MAX_STRING);
  return e;
}

function toInfo(raw: unknown, layer: number, index: number): FeatureInfo {
  const ex = own(raw, 'explanations');
  const first = Array.isArray(ex) ? ex[0] : undefined;
  const desc = own(first, 'description');
  const acts = own(raw, 'activations');
  const examples: FeatureExample[] = Array.isArray(acts)
    ? acts.slice(0, MAX_EXAMPLES).map((a) => ({ tokens: strs(own(a, 'tokens')), values: nums(own(a, 'values')) }))
    : [];
  const frac = own(raw, 'frac_nonzero');
  const info: FeatureInfo = {
    layer,
    index,
    label: typeof desc === 'string' ? desc.slice(0, MAX_STRING) : '',
    examples,
    posStr: strs(own(raw, 'pos_str')),
    posValues: nums(own(raw, 'pos_values')),
    negStr: strs(own(raw, 'neg_str')),
    negValues: nums(own(raw, 'neg_values')),
  };
  if (typeof frac === 'number' && Number.isFinite(frac)) info.fracNonzero = frac;
  const evidence = toEvidence(raw);
  if (evidence) info.evidence = evidence;
  return info;
}

export class FeatureLabels {
  private readonly cache = new Map<number, Map<number, unknown>>();
  readonly available: boolean;

  constructor(private readonly dir: string) {
    const d = join(dir, 'features');
    this.available = existsSync(d) && statSync(d).isDirectory() && readdirSync(d).some((n) => /^layer_\d+\.json$/.test(n));
  }

  private layerMap(layer: number): Map<number, unknown> {
    let m = this.cache.get(layer);
    if (m) return m;
    m = new Map();
    this.cache.set(layer, m);
    const file = join(this.dir, 'features', `layer_${layer}.json`);
    if (!existsSync(file)) return m;
    const data = readUserJson(file, `features/layer_${layer}.json`, 'DICTIONARY_INVALID', MAX_FILE_BYTES);
    if (Array.isArray(data)) {
      data.forEach((f, i) => {
        const idx = own(f, 'index');
        const n = typeof idx === 'number' ? idx : typeof idx === 'string' && /^\d+$/.test(idx) ? Number(idx) : i;
        if (Number.isSafeInteger(n) && n >= 0) m!.set(n, f);
      });
    } else if (typeof data === 'object' && data !== null) {
      for (const k of Object.keys(data)) if (/^\d+$/.test(k)) m.set(Number(k), (data as Record<string, unknown>)[k]);
    } else {
      throw new EngineError('DICTIONARY_INVALID', `features/layer_${layer}.json in ${this.dir} is neither an array nor an object of features.`);
    }
    return m;
  }

  get(layer: number, index: number): FeatureInfo | undefined {
    if (!this.available) return undefined;
    const raw = this.layerMap(layer).get(index);
    return raw === undefined ? undefined : toInfo(raw, layer, index);
  }

  release(): void {
    this.cache.clear();
  }
}
