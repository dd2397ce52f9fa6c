/**
 * Feature dashboards built locally: a corpus is streamed through the model's forward pass and the
 * dictionary's encoder, in batches of documents, and per feature the builder keeps what a dashboard
 * shows — diverse top-activating contexts (one per document, no repeated sentence), activation density,
 * examples across the activation range (a uniform reservoir of firings split by thirds of the maximum),
 * a log-spaced histogram, and the direct logit effects in general (logit-views.ts) — then writes the
 * feature store (store.ts).
 *
 * Progress is reported per batch; a cancelled or interrupted build leaves a checkpoint beside the store
 * (`<store>.partial.json`), and a build with `resume` continues from it when it was made with the same
 * model, dictionary, corpus and settings.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { ModelBundle, TokenInfo } from '../api';
import type { AttributionEngine } from '../attribution/engine';
import { encodeFeatures } from '../attribution/features';
import { freezeForward } from '../attribution/frozen';
import type { Dictionary } from '../dictionaries/types';
import { EngineError, throwIfCancelled } from '../errors';
import type { DashboardsBuilt } from '../../shared/rpc';
import { tokensFromIds } from '../forward';
import { generalView, rankEffects } from './logit-views';
import type { PublishedFeatures } from './neuronpedia';
import { FeatureStore, STORE_SCHEMA_VERSION, type ContextExample, type DashboardCard } from './store';

export interface DashboardOptions {
  /** Top contexts kept per feature (default 10). */
  topK?: number;
  /** Stop after this many tokens (default: the whole corpus). */
  maxTokens?: number;
  /** Documents per batch (progress and checkpoints are per batch; default 16). */
  batchDocs?: number;
  /** Tokens of context before / after the example's token (default 10 / 3). */
  before?: number;
  after?: number;
  /** Continue from the checkpoint of an interrupted build with the same inputs. */
  resume?: boolean;
  /** Neuronpedia's published labels and examples for this dictionary (neuronpedia.ts), kept in each card. */
  published?: PublishedFeatures;
  /** Corpus name for the store's metadata. */
  corpusName?: string;
  signal?: AbortSignal;
  onProgress?(p: { documents: number; totalDocuments: number; tokens: number; tokensPerSecond: number }): void;
}

/** What a build reports: the protocol's shape, so the worker passes it on as it is. */
export type DashboardResult = DashboardsBuilt;

const BINS = 24;
const BIN_LO = Math.log10(1e-3);
const BIN_HI = Math.log10(1e3);
const RESERVOIR = 12;

/** Log-spaced bin edges from 1e-3 to 1e3 (the first and last bins are open-ended). */
export function histogramEdges(): number[] {
  return Array.from({ length: BINS + 1 }, (_, i) => 10 ** (BIN_LO + ((BIN_HI - BIN_LO) * i) / BINS));
}
function binOf(x: number): number {
  const b = Math.floor(((Math.log10(x) - BIN_LO) / (BIN_HI - BIN_LO)) * BINS);
  return Math.min(BINS - 1, Math.max(0, b));
}

interface Candidate {
  act: number;
  ex: ContextExample;
  /** The window's text: two candidates with the same text are the same example. */
  text: string;
}

interface State {
  key: string;
  docsDone: number;
  tokens: number;
  count: number[];
  sum: number[];
  max: number[];
  hist: number[];
  top: Record<number, Candidate[]>;
  reservoir: Record<number, Candidate[]>;
  rng: number;
  seconds: number;
}

/** Documents of a corpus: JSONL (one {"text": …} or string per line) or plain text (paragraphs). */
export function readCorpus(files: string[]): string[] {
  const docs: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) throw new EngineError('PROMPT_EMPTY', `The corpus file ${f} does not exist.`, 'Pass text or JSONL files with --corpus.');
    const text = readFileSync(f, 'utf8');
    if (/\.jsonl$/i.test(f)) {
      text.split('\n').forEach((line, i) => {
        if (!line.trim()) return;
        let v: unknown;
        try {
          v = JSON.parse(line);
        } catch {
          throw new EngineError('PROMPT_EMPTY', `${f}:${i + 1} is not JSON.`, 'Each line of a JSONL corpus is a string or an object with a "text" field.');
        }
        const t = typeof v === 'string' ? v : typeof v === 'object' && v !== null && typeof (v as { text?: unknown }).text === 'string' ? (v as { text: string }).text : undefined;
        if (t === undefined) throw new EngineError('PROMPT_EMPTY', `${f}:${i + 1} has no "text" field.`, 'Each line of a JSONL corpus is a string or an object with a "text" field.');
        if (t.trim()) docs.push(t);
      });
    } else {
      for (const p of text.split(/\n\s*\n/)) if (p.trim()) docs.push(p.trim());
    }
  }
  if (!docs.length) throw new EngineError('PROMPT_EMPTY', 'The corpus has no text.', 'Pass text or JSONL files with --corpus.');
  return docs;
}

/** Chunks of at most maxPositions tokens, each starting with the BOS token when the tokenizer adds one. */
function chunks(bundle: ModelBundle, doc: string): TokenInfo[][] {
  const toks = bundle.tokenizer.encode(doc);
  const max = bundle.spec.maxPositions;
  if (toks.length <= max) return toks.length ? [toks] : [];
  const bos = toks[0].special ? toks[0] : undefined;
  const body = bos ? toks.slice(1) : toks;
  const n = bos ? max - 1 : max;
  const out: TokenInfo[][] = [];
  for (let i = 0; i < body.length; i += n) {
    const ids = body.slice(i, i + n).map((t) => t.id);
    out.push(tokensFromIds(bundle, bos ? [bos.id, ...ids] : ids));
  }
  return out;
}

function inputsKey(bundle: ModelBundle, dict: Dictionary, docs: string[], o: DashboardOptions): string {
  const h = createHash('sha256');
  h.update(`${bundle.weightsHash}|${dict.path}|${dict.name}|${o.topK}|${o.maxTokens}|${o.before}|${o.after}|${docs.length}`);
  for (const d of docs) h.update(d);
  return h.digest('hex').slice(0, 32);
}

export async function buildDashboards(engine: AttributionEngine, dict: Dictionary, docs: string[], outFile: string, opts: DashboardOptions = {}): Promise<DashboardResult> {
  const { bundle, replacement: r } = engine;
  const spec = bundle.spec;
  const L = spec.nLayers, d = spec.dModel;
  const o = { topK: opts.topK ?? 10, maxTokens: opts.maxTokens ?? Infinity, batchDocs: opts.batchDocs ?? 16, before: opts.before ?? 10, after: opts.after ?? 3 };
  const layers = dict.layers;
  const offsets: number[] = [];
  let total = 0;
  for (const l of layers) {
    offsets[l] = total;
    total += dict.nFeatures(l);
  }
  const key = inputsKey(bundle, dict, docs, { ...opts, ...o });
  const partial = `${outFile}.partial.json`;
  let s: State = { key, docsDone: 0, tokens: 0, count: new Array(total).fill(0), sum: new Array(total).fill(0), max: new Array(total).fill(0), hist: new Array(total * BINS).fill(0), top: {}, reservoir: {}, rng: 12345, seconds: 0 };
  let resumedFrom = 0;
  if (opts.resume && existsSync(partial)) {
    const saved = JSON.parse(readFileSync(partial, 'utf8')) as State;
    if (saved.key === key) {
      s = saved;
      resumedFrom = s.docsDone;
    }
  }
  const rand = () => {
    // xorshift32: reproducible reservoir sampling, kept in the checkpoint.
    let x = s.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s.rng = x >>> 0 || 1;
    return s.rng / 4294967296;
  };
  const checkpoint = () => {
    writeFileSync(`${partial}.tmp`, JSON.stringify(s));
    renameSync(`${partial}.tmp`, partial);
  };

  const t0 = performance.now() - s.seconds * 1000;
  const tokText = (t: TokenInfo) => (t.special ? t.text : bundle.tokenizer.tokenText(t.id));
  for (let b0 = s.docsDone; b0 < docs.length && s.tokens < o.maxTokens; b0 += o.batchDocs) {
    if (opts.signal?.aborted) {
      s.seconds = (performance.now() - t0) / 1000;
      checkpoint();
      throwIfCancelled(opts.signal);
    }
    const b1 = Math.min(docs.length, b0 + o.batchDocs);
    for (let di = b0; di < b1 && s.tokens < o.maxTokens; di++) {
      for (const toks of chunks(bundle, docs[di])) {
        const cache = await engine.forward.runTokens(toks, { signal: opts.signal });
        const frozen = freezeForward(spec, cache, r.inputHook);
        const zeroBos = toks[0].special || toks[0].id === spec.bosTokenId;
        const feats = await encodeFeatures(engine.encode, frozen, L, d, zeroBos);
        s.tokens += toks.length - (zeroBos ? 1 : 0);
        // Per feature: its activation at each position of this chunk (for the example windows).
        const byFeature = new Map<number, Map<number, number>>();
        for (let k = 0; k < feats.act.length; k++) {
          const f = offsets[layers[feats.layer[k]]] + feats.index[k];
          let m = byFeature.get(f);
          if (!m) byFeature.set(f, (m = new Map()));
          m.set(feats.pos[k], feats.act[k]);
        }
        const texts = toks.map(tokText);
        const example = (m: Map<number, number>, at: number): Candidate => {
          const lo = Math.max(0, at - o.before), hi = Math.min(toks.length, at + o.after + 1);
          const tokens = texts.slice(lo, hi);
          const values = tokens.map((_, i) => Math.round((m.get(lo + i) ?? 0) * 1000) / 1000);
          return { act: m.get(at)!, ex: { tokens, values, at: at - lo, doc: di }, text: tokens.join('\u0001') };
        };
        for (const [f, m] of byFeature) {
          for (const [pos, act] of m) {
            s.count[f]++;
            s.sum[f] += act;
            if (act > s.max[f]) s.max[f] = act;
            s.hist[f * BINS + binOf(act)]++;
            // Top-k, one per document and no repeated window text.
            const list = (s.top[f] ??= []);
            const worst = list.length < o.topK ? -Infinity : list[list.length - 1].act;
            if (act > worst) {
              const same = list.findIndex((c) => c.ex.doc === di);
              if (same < 0 || list[same].act < act) {
                const c = example(m, pos);
                if (!list.some((x, i) => i !== same && x.text === c.text)) {
                  if (same >= 0) list.splice(same, 1);
                  list.push(c);
                  list.sort((a, b) => b.act - a.act);
                  if (list.length > o.topK) list.pop();
                }
              }
            }
            // A uniform sample of all firings (reservoir), for examples across the activation range.
            const res = (s.reservoir[f] ??= []);
            if (res.length < RESERVOIR) res.push(example(m, pos));
            else {
              const j = Math.floor(rand() * s.count[f]);
              if (j < RESERVOIR) res[j] = example(m, pos);
            }
          }
        }
        if (s.tokens >= o.maxTokens) break;
      }
    }
    s.docsDone = b1;
    s.seconds = (performance.now() - t0) / 1000;
    opts.onProgress?.({ documents: s.docsDone, totalDocuments: docs.length, tokens: s.tokens, tokensPerSecond: s.tokens / Math.max(1e-9, s.seconds) });
    if ((b0 / o.batchDocs) % 8 === 7) checkpoint();
  }
  const seconds = (performance.now() - t0) / 1000;

  const writer = await FeatureStore.create({
    schema: STORE_SCHEMA_VERSION,
    model: spec.name,
    dictionary: dict.path,
    corpus: opts.corpusName ?? '',
    tokens: s.tokens,
    documents: s.docsDone,
    features: total,
    layers,
    histogramEdges: histogramEdges().map((e) => Number(e.toPrecision(4))),
    builtMs: Date.now(),
    seconds,
  });
  const V = spec.vocabSize;
  // Logit effects need V · d per feature plus the per-layer statistics: skipped where that is hours.
  const logits = V * d * total <= 2e11;
  for (const l of layers) {
    for (let i = 0; i < dict.nFeatures(l); i++) {
      const f = offsets[l] + i;
      const card = dashboardCard(bundle, dict, l, i, s, f, logits, opts.published);
      writer.add(card, [...card.firesOn, ...(card.topLogits ?? []).slice(0, 5).map((t) => t.token)]);
    }
  }
  const bytes = writer.save(outFile);
  rmSync(partial, { force: true });
  return { path: outFile, tokens: s.tokens, documents: s.docsDone, features: total, seconds, tokensPerSecond: s.tokens / Math.max(1e-9, seconds), bytes, resumedFrom };
}

function dashboardCard(bundle: ModelBundle, dict: Dictionary, layer: number, index: number, s: State, f: number, logits: boolean, published?: PublishedFeatures): DashboardCard {
  let info;
  try {
    info = dict.featureInfo(layer, index);
  } catch {
    info = undefined;
  }
  const pub = published?.get(layer, index);
  const top = (s.top[f] ?? []).map((c) => c.ex);
  const firesOn: string[] = [];
  for (const ex of top) {
    const t = ex.tokens[ex.at]?.trim();
    if (t && !firesOn.includes(t)) firesOn.push(t);
  }
  const res = (s.reservoir[f] ?? []).slice().sort((a, b) => a.act - b.act);
  const max = s.max[f];
  const thirds: [number, number][] = [[0, max / 3], [max / 3, (2 * max) / 3], [(2 * max) / 3, max]];
  const quantiles = max > 0 ? thirds.map((range) => ({ range, examples: res.filter((c) => c.act >= range[0] && (c.act < range[1] || range[1] === max)).slice(-2).map((c) => c.ex) })) : [];
  const card: DashboardCard = {
    layer,
    index,
    label: info?.label || pub?.label || '',
    // A dictionary's own label wins; without one, Neuronpedia's published explanation is the label.
    labelSource: info?.label ? (info.evidence ? 'latent' : 'published') : pub?.label ? 'published' : '',
    automatic: '',
    density: s.tokens ? s.count[f] / s.tokens : 0,
    firings: s.count[f],
    maxAct: max,
    meanAct: s.count[f] ? s.sum[f] / s.count[f] : 0,
    top,
    quantiles,
    histogram: s.hist.slice(f * BINS, (f + 1) * BINS),
    firesOn: firesOn.slice(0, 8),
  };
  if (pub) card.published = { label: pub.label, ...(pub.by ? { by: pub.by } : {}), examples: pub.examples.slice(0, 5) };
  if (info?.evidence) card.evidence = { f1: info.evidence.f1, precision: info.evidence.precision, recall: info.evidence.recall, against: info.evidence.against ?? (info.evidence.latent ? `the latent ${info.evidence.latent}` : undefined) };
  if (logits) {
    const g = generalView(bundle.spec, dict, layer, index);
    const pick = (sign: 1 | -1) => rankEffects(bundle, g, 10, 'z', sign).map((e) => ({ token: e.token, value: Math.round(e.value * 1000) / 1000, z: Math.round((e.z ?? 0) * 100) / 100 }));
    card.topLogits = pick(1);
    card.bottomLogits = pick(-1);
    card.logitsNote = `direct effect in general, ranked by ${g.correction}`;
  }
  card.automatic = automaticDescription(card);
  if (!card.label && card.automatic) {
    card.label = card.automatic;
    card.labelSource = 'automatic';
  }
  return card;
}

/** "fires on: Dallas, Houston, Lubbock …; promotes: Texas" from the data (empty when it never fired). */
export function automaticDescription(c: Pick<DashboardCard, 'firesOn' | 'topLogits' | 'firings'>): string {
  if (!c.firings) return '';
  const on = c.firesOn.slice(0, 4).join(', ') + (c.firesOn.length > 4 ? ' …' : '');
  const promotes = (c.topLogits ?? []).slice(0, 3).map((t) => t.token.trim() || JSON.stringify(t.token)).join(', ');
  return `fires on: ${on}${promotes ? `; promotes: ${promotes}` : ''}`;
}

export function storeSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}
