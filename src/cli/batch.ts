/**
 * `circuit-inspector batch PROMPTS.jsonl --out DIR [--shard I/N]`: one attribution graph per prompt,
 * written as DIR/graphs/<id>.graph.json, plus DIR/index.shard-I-of-N.json (or DIR/index.json unsharded).
 * `circuit-inspector batch merge DIR`: joins the shard indexes into DIR/index.json and writes the
 * aggregate report DIR/features.json (features by the number of prompts whose pruned graph holds them).
 *
 * Sharding is by line: prompt k (0-based, blank lines skipped) belongs to shard k mod N, so a cluster
 * array job (Slurm's SLURM_ARRAY_TASK_ID, a Kubernetes Indexed Job's JOB_COMPLETION_INDEX) runs one
 * shard per task and the merged result is the same as one run's. Graph files carry no timestamp, so a
 * prompt's graph is byte-identical whichever shard made it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { attribute } from '../engine/attribution/index';
import { loadModelBundle } from '../engine/bundle/index';
import { loadDictionary } from '../engine/dictionaries/index';
import { serializeGraphFile, toGraphFile } from '../engine/graph-file';
import { dictionaryDir } from './analyze';
import { intOption, modelOption, parse, providerOption, RUNTIME_FLAGS, UsageError, type CliCommand } from './args';

const usage = `Usage: circuit-inspector batch PROMPTS.jsonl --out DIR [--shard I/N] [options]
       circuit-inspector batch merge DIR

  PROMPTS.jsonl   one prompt per line: {"prompt": "…", "id": "optional-name"} or a JSON string
  --out DIR       graphs go to DIR/graphs/, the index to DIR/index.json (DIR/index.shard-I-of-N.json with --shard)
  --shard I/N     run only prompts k with k mod N = I (0 ≤ I < N), for array jobs
  --node-threshold T, --edge-threshold T, --max-feature-nodes N, --model DIR, --transcoders DIR,
  --provider NAME, --threads N, --cache-dir DIR
merge: joins DIR/index.shard-*.json into DIR/index.json and writes DIR/features.json (features by frequency).`;

export interface BatchPrompt {
  /** 0-based among non-blank lines. */
  line: number;
  id: string;
  prompt: string;
}

export interface IndexEntry extends BatchPrompt {
  file: string;
  nodes: number;
  edges: number;
  targets: { token: string; probability: number }[];
  /** Position-free feature ids (L3#370) of the pruned graph, with labels. */
  features: { id: string; label: string }[];
}

export interface BatchIndex {
  model: string;
  dictionary: string;
  thresholds: { node: number; edge: number };
  shard?: { index: number; count: number };
  prompts: IndexEntry[];
}

export function readPrompts(path: string): BatchPrompt[] {
  if (!existsSync(path)) throw new UsageError(`${path} does not exist`);
  const out: BatchPrompt[] = [];
  const ids = new Set<string>();
  readFileSync(path, 'utf8').split(/\r?\n/).forEach((text, n) => {
    if (!text.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new UsageError(`${path}:${n + 1}: not JSON (expected {"prompt": "…"} or a JSON string)`);
    }
    const obj = typeof v === 'string' ? { prompt: v } : (v as { prompt?: unknown; id?: unknown });
    if (!obj || typeof obj !== 'object' || typeof obj.prompt !== 'string' || !obj.prompt.trim()) throw new UsageError(`${path}:${n + 1}: expected {"prompt": "…"} with a non-empty prompt`);
    const line = out.length;
    const id = obj.id === undefined ? String(line).padStart(5, '0') : String(obj.id);
    if (!/^[\w.-]{1,100}$/.test(id)) throw new UsageError(`${path}:${n + 1}: id ${JSON.stringify(id)} must be letters, digits, _ . - (it names a file)`);
    if (ids.has(id)) throw new UsageError(`${path}:${n + 1}: id ${JSON.stringify(id)} is used twice`);
    ids.add(id);
    out.push({ line, id, prompt: obj.prompt });
  });
  if (!out.length) throw new UsageError(`${path} holds no prompts`);
  return out;
}

export function parseShard(s: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) throw new UsageError(`--shard must be I/N with 0 ≤ I < N, got ${JSON.stringify(s)}`);
  return { index, count };
}

export function mergeIndexes(dir: string): { index: BatchIndex; features: { id: string; label: string; prompts: number; share: number }[] } {
  const files = readdirSync(dir).filter((f) => /^index\.shard-\d+-of-\d+\.json$/.test(f));
  if (!files.length) throw new UsageError(`no index.shard-*.json in ${dir}`);
  const parts = files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as BatchIndex);
  const count = parts[0].shard?.count;
  const have = new Set(parts.map((p) => p.shard?.index));
  for (let i = 0; i < (count ?? 0); i++) if (!have.has(i)) throw new UsageError(`shard ${i} of ${count} is missing in ${dir} (found ${[...have].join(', ')})`);
  if (parts.some((p) => p.shard?.count !== count || p.model !== parts[0].model || p.dictionary !== parts[0].dictionary)) throw new UsageError('the shards were made with different shard counts, models or dictionaries');
  const prompts = parts.flatMap((p) => p.prompts).sort((a, b) => a.line - b.line);
  const index: BatchIndex = { model: parts[0].model, dictionary: parts[0].dictionary, thresholds: parts[0].thresholds, prompts };
  return { index, features: aggregate(prompts) };
}

/** Features by the number of prompts whose pruned graph holds them, most frequent first. */
export function aggregate(prompts: IndexEntry[]): { id: string; label: string; prompts: number; share: number }[] {
  const m = new Map<string, { label: string; n: number }>();
  for (const p of prompts) for (const f of p.features) {
    const c = m.get(f.id) ?? { label: f.label, n: 0 };
    c.n++;
    m.set(f.id, c);
  }
  return [...m.entries()].map(([id, c]) => ({ id, label: c.label, prompts: c.n, share: c.n / prompts.length })).sort((a, b) => b.prompts - a.prompts || a.id.localeCompare(b.id, 'en', { numeric: true }));
}

const stable = (x: unknown) => JSON.stringify(x, null, 2) + '\n';

export const command: CliCommand = {
  summary: 'One graph per prompt of a JSONL file (shardable for array jobs); merge shards; features by frequency.',
  usage,
  async run(argv, io) {
    const a = parse(argv, {
      out: { type: 'string' },
      shard: { type: 'string' },
      model: { type: 'string' },
      transcoders: { type: 'string' },
      'node-threshold': { type: 'string' },
      'edge-threshold': { type: 'string' },
      'max-feature-nodes': { type: 'string' },
      ...RUNTIME_FLAGS,
    });
    if (a._[0] === 'merge') {
      if (a._.length !== 2) throw new UsageError('merge takes one folder: circuit-inspector batch merge DIR');
      const dir = resolve(a._[1]);
      const { index, features } = mergeIndexes(dir);
      writeFileSync(join(dir, 'index.json'), stable(index));
      writeFileSync(join(dir, 'features.json'), stable({ prompts: index.prompts.length, features }));
      io.out(`${index.prompts.length} prompts merged into ${join(dir, 'index.json')}; ${features.length} distinct features in ${join(dir, 'features.json')}`);
      for (const f of features.slice(0, 10)) io.out(`  ${f.id.padEnd(10)} ${String(f.prompts).padStart(5)} (${(f.share * 100).toFixed(0)}%) ${f.label}`);
      return 0;
    }
    if (a._.length !== 1) throw new UsageError('give one PROMPTS.jsonl file');
    if (typeof a.out !== 'string') throw new UsageError('--out DIR is required');
    const prompts = readPrompts(resolve(a._[0]));
    const shard = typeof a.shard === 'string' ? parseShard(a.shard) : undefined;
    const mine = shard ? prompts.filter((p) => p.line % shard.count === shard.index) : prompts;
    const frac = (v: unknown, name: string, d: number) => {
      if (v === undefined) return d;
      const n = Number(v);
      if (!(n > 0 && n <= 1)) throw new UsageError(`--${name} must be in (0, 1], got ${JSON.stringify(v)}`);
      return n;
    };
    const node = frac(a['node-threshold'], 'node-threshold', 0.8), edge = frac(a['edge-threshold'], 'edge-threshold', 0.98);
    const maxFeatureNodes = a['max-feature-nodes'] === undefined ? undefined : intOption(a['max-feature-nodes'], 'max-feature-nodes', 1, 0);
    const out = resolve(a.out);
    mkdirSync(join(out, 'graphs'), { recursive: true });
    const modelDir = modelOption(a.model);
    const bundle = await loadModelBundle(modelDir);
    const dictionary = await loadDictionary(dictionaryDir(a.transcoders, modelDir), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
    const runtime = { provider: providerOption(a.provider), threads: intOption(a.threads, 'threads', 0, 0), cacheDir: typeof a['cache-dir'] === 'string' ? a['cache-dir'] : undefined };
    const entries: IndexEntry[] = [];
    for (const p of mine) {
      const g = await attribute(bundle, dictionary, p.prompt, { nodeThreshold: node, edgeThreshold: edge, maxFeatureNodes, runtime });
      if (g.source) delete g.source.createdMs;
      const file = `graphs/${p.id}.graph.json`;
      writeFileSync(join(out, file), serializeGraphFile(toGraphFile(g, { slug: p.id })));
      const feats = new Map<string, string>();
      for (const n of g.nodes) if (n.kind === 'feature' && !feats.has(`L${n.layer}#${n.index}`)) feats.set(`L${n.layer}#${n.index}`, n.label);
      entries.push({ ...p, file, nodes: g.nodes.length, edges: g.edges.weight.length, targets: g.targets.map((t) => ({ token: t.token, probability: t.probability })), features: [...feats].map(([id, label]) => ({ id, label })) });
      process.stderr.write(`${p.id}: ${g.nodes.length} nodes\n`);
    }
    const index: BatchIndex = { model: bundle.spec.name, dictionary: dictionary.name, thresholds: { node, edge }, shard, prompts: entries };
    const name = shard ? `index.shard-${shard.index}-of-${shard.count}.json` : 'index.json';
    writeFileSync(join(out, name), stable(index));
    if (!shard) writeFileSync(join(out, 'features.json'), stable({ prompts: entries.length, features: aggregate(entries) }));
    io.out(`${entries.length} graphs written to ${join(out, 'graphs')}; index ${join(out, name)}`);
    return 0;
  },
};
