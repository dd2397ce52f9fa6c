/**
 * `circuit-inspector qk`: why a head attends where it does — the pre-softmax score of one head at
 * (the node's position, a key position) split into query-side × key-side source pairs, query-only and
 * key-only terms and biases (src/engine/attention/qk.ts), for a node of the prompt's attribution graph.
 */
import { attributionEngine, computeAttribution } from '../engine/attribution/index';
import { describeQkSource, nodeRefOfId, qkForNode, type NodeQk, type NodeRef } from '../engine/attention/node-qk';
import { loadModelBundle } from '../engine/bundle/index';
import { loadDictionary } from '../engine/dictionaries/index';
import type { Dictionary } from '../engine/dictionaries/types';
import { dictionaryDir } from './analyze';
import { intOption, modelOption, parseFlags, promptOption, providerOption, RUNTIME_FLAGS, UsageError, type CliCommand } from './args';

const usage = `Usage: circuit-inspector qk [--model DIR] (--prompt TEXT | --prompt-file F | --ids LIST) --node ID [options]

  --node ID        the node whose attention to explain, as a graph-file node id: LAYER_FEATURE_POS for a
                   feature (e.g. 3_370_8), LAYER_-1_POS for an error node, NLAYERS+1_TOKEN_POS for a logit;
                   or L3#370@8. Its position is the query.
  --head L.H       the head (layer L, query head H); default: the head carrying most of the node's
                   cross-position edges
  --key POS        the key position; default: where that head brings the node's edges from
  --top N          pairs and contributors shown (default 10)
  --json           print the result as JSON (with Neuronpedia's qk_tracing_results)
  --model DIR, --transcoders DIR, --provider NAME, --threads N, --cache-dir DIR`;

/** A node reference from a graph-file id or L#F@P (a bad one is a usage error). */
export function parseNodeRef(s: string, nLayers: number): NodeRef {
  try {
    return nodeRefOfId(s, nLayers);
  } catch (e) {
    throw new UsageError(`--node: ${(e as Error).message}`);
  }
}

export function parseHead(s: string): { layer: number; head: number } {
  const m = /^L?(\d+)\.H?(\d+)$/i.exec(s.trim());
  if (!m) throw new UsageError(`--head ${JSON.stringify(s)}: expected LAYER.HEAD (e.g. 3.1)`);
  return { layer: Number(m[1]), head: Number(m[2]) };
}

/** A source's name for people: its label (features), or what it is. */
function describe(id: string, dict: Dictionary, tokens: string[]): string {
  return describeQkSource(id, tokens, (l, f) => dict.featureInfo(l, f)?.label);
}

export function formatQk(r: NodeQk, dict: Dictionary, tokens: string[]): string {
  const tok = (p: number) => JSON.stringify(tokens[p] ?? '');
  const f = (x: number) => (x >= 0 ? ' ' : '') + x.toFixed(4);
  const lines = [
    `Node ${r.nodeId}: head L${r.layer}.H${r.head}${r.kvHead !== r.head ? ` (key/value head ${r.kvHead})` : ''}, query ${tok(r.query)}@${r.query} → key ${tok(r.key)}@${r.key}`,
    `  (${r.chosen})`,
    `Score (pre-softmax${r.softcap ? ', before the soft-cap' : ''}): ${r.scorePre.toFixed(4)} = scale ${r.scale.toPrecision(4)} × q·k; attention weight ${r.pattern.toFixed(4)}`,
  ];
  if (r.softcap) lines.push(`Soft-cap ${r.softcap}: ${r.softcap} · tanh(score / ${r.softcap}) = ${r.score.toFixed(4)} (factor ${r.capFactor!.toFixed(4)})`);
  lines.push(
    `Terms: pairwise ${f(r.terms.pairwise)}   query × key-bias ${f(r.terms.queryOnly)}   query-bias × key ${f(r.terms.keyOnly)}   bias × bias ${f(r.terms.biasBias)}`,
    '',
    'Top query × key pairs:',
    ...r.pairs.map((p) => `  ${f(p.value)}  ${describe(r.idOf(p.query), dict, tokens)}  ×  ${describe(r.idOf(p.key), dict, tokens)}`),
    '',
    'Top query-side contributors (each against the whole key):',
    ...r.queryMarginal.map((c) => `  ${f(c.value)}  ${describe(r.idOf(c.column), dict, tokens)}`),
    '',
    'Top key-side contributors (each against the whole query):',
    ...r.keyMarginal.map((c) => `  ${f(c.value)}  ${describe(r.idOf(c.column), dict, tokens)}`),
  );
  return lines.join('\n');
}

export const command: CliCommand = {
  summary: 'QK attribution: why a head attends from a node\'s position to a key (query × key source pairs).',
  usage,
  async run(argv, io) {
    const a = parseFlags(argv, {
      model: { type: 'string' },
      transcoders: { type: 'string' },
      prompt: { type: 'string' },
      'prompt-file': { type: 'string' },
      ids: { type: 'string' },
      node: { type: 'string' },
      head: { type: 'string' },
      key: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
      ...RUNTIME_FLAGS,
    });
    const prompt = promptOption(a);
    if (typeof a.node !== 'string') throw new UsageError('--node is required');
    const head = typeof a.head === 'string' ? parseHead(a.head) : undefined;
    const key = a.key === undefined ? undefined : intOption(a.key, 'key', 0, 0);
    const top = intOption(a.top, 'top', 1, 10);
    const modelDir = modelOption(a.model);
    const bundle = await loadModelBundle(modelDir);
    const dictionary = await loadDictionary(dictionaryDir(a.transcoders, modelDir), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
    const engine = await attributionEngine(bundle, dictionary, { provider: providerOption(a.provider), threads: intOption(a.threads, 'threads', 0, 0), cacheDir: typeof a['cache-dir'] === 'string' ? a['cache-dir'] : undefined });
    const raw = await computeAttribution(engine, prompt);
    const spec = bundle.spec;
    const node = parseNodeRef(a.node, spec.nLayers);
    const zeroBos = raw.tokens[0].special || raw.tokens[0].id === spec.bosTokenId;
    const r = qkForNode(spec, engine.replacement, raw, zeroBos, { node, head, key, top });
    const tokens = raw.tokens.map((t) => t.text);
    if (a.json) {
      const { qVectors: _q, kVectors: _k, idOf, tracing, ...rest } = r;
      const out = {
        ...rest,
        tokens,
        pairs: r.pairs.map((p) => ({ query: idOf(p.query), key: idOf(p.key), value: p.value })),
        queryMarginal: r.queryMarginal.map((c) => ({ id: idOf(c.column), value: c.value })),
        keyMarginal: r.keyMarginal.map((c) => ({ id: idOf(c.column), value: c.value })),
        qk_tracing_results: tracing,
      };
      io.out(JSON.stringify(out, null, 2));
    } else {
      io.out(formatQk(r, dictionary, tokens));
    }
    return 0;
  },
};
