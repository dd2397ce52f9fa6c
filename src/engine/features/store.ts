/**
 * The feature store: every feature's dashboard in one indexed file (SQLite through sql.js), with
 * full-text search (FTS4: sql.js's build has no FTS5) over labels, automatic descriptions and top tokens.
 *
 * Schema:
 *   meta(key PRIMARY KEY, value)                — model, dictionary, corpus, tokens, build settings (JSON)
 *   features(id PRIMARY KEY, layer, idx, label, label_source, f1, density, max_act, card)
 *       id = layer · 2^24 + idx; label_source 'latent' | 'published' | 'automatic' | '';
 *       card = the dashboard as deflated JSON (DashboardCard; a few KB each before compression)
 *   feature_text(label, tokens)                 — FTS4, rowid = features.id
 * A card read is one primary-key lookup; a search is one FTS query joined back on rowid.
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { deflateSync, inflateSync, strFromU8, strToU8 } from 'fflate';
import type { Database } from 'sql.js';
import { EngineError } from '../errors';
import { sqlite } from './sqlite';

export const STORE_FILE = 'dashboards.sqlite';
export const STORE_SCHEMA_VERSION = 1;
/** Full-text matches ranked per search (the best label scores among the first this many matches). */
export const SEARCH_CANDIDATES = 2000;
const ID_SHIFT = 2 ** 24;

export function featureKey(layer: number, index: number): number {
  return layer * ID_SHIFT + index;
}

export interface ContextExample {
  /** Token texts of the window. */
  tokens: string[];
  /** The feature's activation at each token of the window. */
  values: number[];
  /** Which token of the window the example is about. */
  at: number;
  /** Document (and sentence) it came from, for diversity. */
  doc: number;
}

export interface DashboardCard {
  layer: number;
  index: number;
  label: string;
  labelSource: 'latent' | 'published' | 'automatic' | '';
  evidence?: { f1: number; precision?: number; recall?: number; against?: string };
  /** "fires on: …; promotes: …" from the data, always present when the feature fired. */
  automatic: string;
  /** Fraction of corpus tokens on which it fires. */
  density: number;
  firings: number;
  maxAct: number;
  meanAct: number;
  /** Top activating contexts, one per document, deduplicated. */
  top: ContextExample[];
  /** Examples at activation quantiles (lowest third, middle, highest), for the full range. */
  quantiles: { range: [number, number]; examples: ContextExample[] }[];
  /** Histogram of non-zero activations: counts per bin; the bins' edges are the store's `histogramEdges`. */
  histogram: number[];
  /** Direct logit effects in general (logit-views.ts), ranked as `logitsNote` says; absent when too costly. */
  topLogits?: { token: string; value: number; z: number }[];
  bottomLogits?: { token: string; value: number; z: number }[];
  logitsNote?: string;
  /** Tokens the feature fires on most (text of the max token of top contexts), for search. */
  firesOn: string[];
}

export interface StoreMeta {
  schema: number;
  model: string;
  dictionary: string;
  corpus: string;
  tokens: number;
  documents: number;
  features: number;
  layers: number[];
  /** Log-spaced edges of every card's histogram bins (bins + 1 values). */
  histogramEdges: number[];
  builtMs: number;
  seconds: number;
}

export interface SearchHit {
  layer: number;
  index: number;
  label: string;
  labelSource: string;
  f1: number | null;
  density: number;
}

export class FeatureStore {
  private constructor(private readonly db: Database, readonly path: string, readonly meta: StoreMeta) {}

  /** Opens a store file (read into memory; sql.js has no file I/O). */
  static async open(path: string): Promise<FeatureStore> {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new EngineError('DICTIONARY_INVALID', `The feature dashboards ${path} cannot be read: ${(e as Error).message}.`, 'Build them with `circuit-inspector dashboards` or the Build Feature Dashboards command.');
    }
    const SQL = await sqlite();
    let db: Database;
    let meta: StoreMeta;
    try {
      db = new SQL.Database(bytes);
      const r = db.exec("SELECT value FROM meta WHERE key = 'meta'");
      meta = JSON.parse(String(r[0].values[0][0])) as StoreMeta;
    } catch (e) {
      throw new EngineError('DICTIONARY_INVALID', `${path} is not a feature-dashboard store: ${(e as Error).message.slice(0, 200)}.`, 'Rebuild it with `circuit-inspector dashboards`.');
    }
    if (meta.schema !== STORE_SCHEMA_VERSION) {
      throw new EngineError('DICTIONARY_INVALID', `${path} has dashboard schema ${meta.schema}; this version reads ${STORE_SCHEMA_VERSION}.`, 'Rebuild it with `circuit-inspector dashboards`.');
    }
    return new FeatureStore(db, path, meta);
  }

  /** A new store in memory; `save` writes it. */
  static async create(meta: StoreMeta): Promise<FeatureStoreWriter> {
    const SQL = await sqlite();
    const db = new SQL.Database();
    db.run(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
      CREATE TABLE features (id INTEGER PRIMARY KEY, layer INTEGER, idx INTEGER, label TEXT, label_source TEXT, f1 REAL, density REAL, max_act REAL, card BLOB);
      CREATE VIRTUAL TABLE feature_text USING fts4(label, tokens, tokenize=unicode61);`);
    return new FeatureStoreWriter(db, meta);
  }

  card(layer: number, index: number): DashboardCard | undefined {
    const st = this.db.prepare('SELECT card FROM features WHERE id = ?');
    try {
      st.bind([featureKey(layer, index)]);
      if (!st.step()) return undefined;
      const blob = st.get()[0];
      if (!(blob instanceof Uint8Array)) return undefined;
      return JSON.parse(strFromU8(inflateSync(blob))) as DashboardCard;
    } finally {
      st.free();
    }
  }

  /**
   * Features whose label, automatic description or top tokens match `query` (words; the last one is
   * a prefix), best label score first among the first SEARCH_CANDIDATES matches. Punctuation in the
   * query is dropped, so any text is safe.
   */
  search(query: string, limit = 50): SearchHit[] {
    const words = query.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
    if (!words.length) return [];
    const match = words.map((w, i) => (i === words.length - 1 ? `${w}*` : w)).join(' ');
    // The full-text match is capped before the join and sort: a common word matches a large share of a
    // 426k-feature dictionary, and ranking every match cost seconds (bench section features).
    const st = this.db.prepare(`SELECT f.layer, f.idx, f.label, f.label_source, f.f1, f.density FROM features f
      WHERE f.id IN (SELECT rowid FROM feature_text WHERE feature_text MATCH ? LIMIT ${SEARCH_CANDIDATES})
      ORDER BY (f.label_source = 'automatic'), f.f1 IS NULL, f.f1 DESC, f.density DESC LIMIT ?`);
    const out: SearchHit[] = [];
    try {
      st.bind([match, Math.max(1, Math.floor(limit))]);
      while (st.step()) {
        const [layer, index, label, labelSource, f1, density] = st.get();
        out.push({ layer: Number(layer), index: Number(index), label: String(label), labelSource: String(labelSource), f1: f1 === null ? null : Number(f1), density: Number(density) });
      }
    } finally {
      st.free();
    }
    return out;
  }

  close(): void {
    this.db.close();
  }
}

export class FeatureStoreWriter {
  private readonly insert;
  private readonly insertText;
  private n = 0;

  constructor(private readonly db: Database, private readonly meta: StoreMeta) {
    this.insert = db.prepare('INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.insertText = db.prepare('INSERT INTO feature_text (rowid, label, tokens) VALUES (?, ?, ?)');
    db.run('BEGIN');
  }

  add(card: DashboardCard, topTokens: string[]): void {
    const id = featureKey(card.layer, card.index);
    this.insert.run([id, card.layer, card.index, card.label, card.labelSource, card.evidence?.f1 ?? null, card.density, card.maxAct, deflateSync(strToU8(JSON.stringify(card)), { level: 9 })]);
    this.insertText.run([id, `${card.label} ${card.labelSource === 'automatic' ? '' : card.automatic}`, topTokens.join(' ')]);
    this.n++;
  }

  /** Writes the store atomically (a temporary file renamed into place); returns its size in bytes. */
  save(path: string): number {
    this.db.run('COMMIT');
    this.insert.free();
    this.insertText.free();
    this.db.run("INSERT OR REPLACE INTO meta VALUES ('meta', ?)", [JSON.stringify({ ...this.meta, features: this.n })]);
    const bytes = this.db.export();
    this.db.close();
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    return statSync(path).size;
  }
}
