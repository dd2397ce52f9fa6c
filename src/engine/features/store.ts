/**
 * The feature store: every feature's dashboard in one indexed file (SQLite through sql.js), with
 * full-text search (FTS4: sql.js's build has no FTS5) over labels, automatic descriptions and top tokens.
 *
 * Schema (version 2):
 *   meta(key PRIMARY KEY, value)                — model, dictionary, corpus, tokens, build settings (JSON)
 *   features(id PRIMARY KEY, layer, idx, label, label_source, f1, density, max_act, card)
 *       id = layer · 2^24 + idx; label_source 'latent' | 'published' | 'automatic' | '';
 *       card = the dashboard as deflated JSON (DashboardCard; a few KB each before compression)
 *   feature_text(label, tokens, fid)            — FTS4 with prefix indexes; fid = features.id (not indexed);
 *       label = the dictionary's label and the published one; tokens = automatic description, top tokens
 * A card read is one primary-key lookup. Search order is fixed when the store is written: full-text rows
 * are inserted best first (scored labels by F1, then unscored, then automatic descriptions; density breaks
 * ties), so a row's docid is its rank. FTS4 yields matches in docid order, so the best `limit` matches
 * of a query are its first `limit` rows: no match set is sorted, however common the word — ranking
 * every match of a common word of a 426k-feature dictionary cost seconds.
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { deflateSync, inflateSync, strFromU8, strToU8 } from 'fflate';
import type { Database, Statement } from 'sql.js';
import { EngineError } from '../errors';
import { sqlite } from './sqlite';

export const STORE_FILE = 'dashboards.sqlite';
export const STORE_SCHEMA_VERSION = 2;
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
  /** Neuronpedia's published explanation and activation examples, when an export was given (neuronpedia.ts). */
  published?: { label: string; by?: string; examples: { tokens: string[]; values: number[] }[] };
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

/**
 * Search order: scored labels (latent or published) by F1, best first; then labels with no score; then
 * automatic descriptions; density (more often seen first) breaks ties, then (layer, index).
 */
export function searchOrder(a: RankKey, b: RankKey): number {
  const cls = (k: RankKey) => (k.labelSource === 'automatic' ? 2 : k.f1 === null || k.f1 === undefined ? 1 : 0);
  return cls(a) - cls(b) || (b.f1 ?? 0) - (a.f1 ?? 0) || b.density - a.density || a.layer - b.layer || a.index - b.index;
}

interface RankKey {
  layer: number;
  index: number;
  labelSource: string;
  f1: number | null | undefined;
  density: number;
}

/**
 * The FTS4 query for user text: its words, the last one a prefix, each restricted to `column` when
 * given; punctuation is dropped, so any text is data.
 */
export function matchQuery(query: string, column?: string): string | undefined {
  const words = query.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
  if (!words.length) return undefined;
  return words.map((w, i) => `${column ? `${column}:` : ''}${w}${i === words.length - 1 ? '*' : ''}`).join(' ');
}

export class FeatureStore {
  private readonly cardStmt: Statement;
  private readonly searchStmt: Statement;

  private constructor(private readonly db: Database, readonly path: string, readonly meta: StoreMeta) {
    // Prepared once: a 426k-feature store answers many cards and searches per session.
    this.cardStmt = db.prepare('SELECT card FROM features WHERE id = ?');
    this.searchStmt = db.prepare(`SELECT f.layer, f.idx, f.label, f.label_source, f.f1, f.density
      FROM (SELECT docid AS d, fid FROM feature_text WHERE feature_text MATCH ? ORDER BY docid LIMIT ?) t
      JOIN features f ON f.id = t.fid ORDER BY t.d`);
  }

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
      CREATE VIRTUAL TABLE feature_text USING fts4(label, tokens, fid, notindexed=fid, prefix="2,3,4", tokenize=unicode61);`);
    return new FeatureStoreWriter(db, meta);
  }

  card(layer: number, index: number): DashboardCard | undefined {
    const st = this.cardStmt;
    try {
      st.bind([featureKey(layer, index)]);
      if (!st.step()) return undefined;
      const blob = st.get()[0];
      if (!(blob instanceof Uint8Array)) return undefined;
      return JSON.parse(strFromU8(inflateSync(blob))) as DashboardCard;
    } finally {
      st.reset();
    }
  }

  /**
   * Features matching `query` (words; the last one a prefix): first those whose label says it (the
   * dictionary's own or the published one), then those whose automatic description or top tokens do;
   * each group in searchOrder, `limit` in all. Punctuation in the query is dropped, so any text is safe.
   */
  search(query: string, limit = 50): SearchHit[] {
    const n = Math.max(1, Math.floor(limit));
    const byLabel = matchQuery(query, 'label');
    if (!byLabel) return [];
    const out = this.run(byLabel, n);
    if (out.length < n) {
      const seen = new Set(out.map((h) => featureKey(h.layer, h.index)));
      // Any column; the label matches come again first, so ask for enough rows to pass them.
      for (const h of this.run(matchQuery(query)!, n + out.length)) {
        if (out.length >= n) break;
        if (!seen.has(featureKey(h.layer, h.index))) out.push(h);
      }
    }
    return out;
  }

  private run(match: string, limit: number): SearchHit[] {
    const st = this.searchStmt;
    const out: SearchHit[] = [];
    try {
      st.bind([match, limit]);
      while (st.step()) {
        const [layer, index, label, labelSource, f1, density] = st.get();
        out.push({ layer: Number(layer), index: Number(index), label: String(label), labelSource: String(labelSource), f1: f1 === null ? null : Number(f1), density: Number(density) });
      }
    } finally {
      st.reset();
    }
    return out;
  }

  close(): void {
    this.cardStmt.free();
    this.searchStmt.free();
    this.db.close();
  }
}

export class FeatureStoreWriter {
  private readonly insert;
  /** Full-text rows, written in search order at `save` (their docid is their rank). */
  private readonly texts: { key: RankKey; id: number; label: string; tokens: string }[] = [];

  constructor(private readonly db: Database, private readonly meta: StoreMeta) {
    this.insert = db.prepare('INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    db.run('BEGIN');
  }

  add(card: DashboardCard, topTokens: string[]): void {
    const id = featureKey(card.layer, card.index);
    const f1 = card.evidence?.f1 ?? null;
    this.insert.run([id, card.layer, card.index, card.label, card.labelSource, f1, card.density, card.maxAct, deflateSync(strToU8(JSON.stringify(card)), { level: 9 })]);
    this.texts.push({
      key: { layer: card.layer, index: card.index, labelSource: card.labelSource, f1, density: card.density },
      id,
      // Labels (own and published) in one column, searched first; what the data says in the other.
      label: [card.labelSource === 'automatic' ? '' : card.label, card.published?.label && card.published.label !== card.label ? card.published.label : ''].filter(Boolean).join(' '),
      tokens: [card.automatic, ...topTokens].join(' '),
    });
  }

  /** Writes the store atomically (a temporary file renamed into place); returns its size in bytes. */
  save(path: string): number {
    this.insert.free();
    this.texts.sort((a, b) => searchOrder(a.key, b.key));
    const insertText = this.db.prepare('INSERT INTO feature_text (docid, label, tokens, fid) VALUES (?, ?, ?, ?)');
    this.texts.forEach((t, rank) => insertText.run([rank + 1, t.label, t.tokens, t.id]));
    insertText.free();
    const n = this.texts.length;
    this.texts.length = 0;
    this.db.run('COMMIT');
    // One b-tree per term prefix instead of the many segments the inserts left: fewer pages per query.
    this.db.run("INSERT INTO feature_text(feature_text) VALUES ('optimize')");
    this.db.run("INSERT OR REPLACE INTO meta VALUES ('meta', ?)", [JSON.stringify({ ...this.meta, features: n })]);
    const bytes = this.db.export();
    this.db.close();
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    return statSync(path).size;
  }
}
