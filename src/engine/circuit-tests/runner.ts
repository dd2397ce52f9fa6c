/**
 * Runs circuit tests (./syntax.ts) against the model: one attribution per prompt variant, shared by
 * every expectation of the block; the same runner serves `circuit-inspector test` and the editor's
 * Testing view. A failure's message says what was measured, so it can be acted on.
 */
import { findPromptBlocks, type PromptDialect, type ExpectationLine } from '../../shared/prompt-blocks';
import type { Dictionary } from '../dictionaries/types';
import { EngineError } from '../errors';
import { computeAttribution, toAttributionGraph, type RawAttribution } from '../attribution/attribute';
import type { AttributionEngine } from '../attribution/engine';
import { interveneWith, type FeatureIntervention } from '../attribution/intervene';
import { describeSemantics, DEFAULT_SEMANTICS } from '../attribution/semantics';
import type { AttributionGraph } from '../attribution/types';
import { topK } from '../forward';
import type { BlockResult, ExpectationResult, StabilityRow } from '../../shared/circuit-tests';
import { describeNode, expandFamily, parseBlockLines, type Expectation, type NodeRef } from './syntax';

export type { BlockResult, ExpectationResult, StabilityRow };

export interface CircuitTestHost {
  engine: AttributionEngine;
  /** For feature labels ("quoted" nodes); without it only L#F and tokens match. */
  dictionary?: Dictionary;
}

export interface RunOptions {
  nodeThreshold?: number;
  edgeThreshold?: number;
  signal?: AbortSignal;
}

interface Variant {
  text: string;
  raw: RawAttribution;
  graphs: Map<number, AttributionGraph>;
}

const trimEq = (a: string, b: string) => a === b || a.trim() === b.trim();

/** Token ids whose text is `text` (exactly, else with spaces trimmed); an ambiguous name is an error. */
function tokenIds(host: CircuitTestHost, text: string, cache: Map<string, number>): number {
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  const tok = host.engine.bundle.tokenizer;
  const exact: number[] = [], trimmed: number[] = [];
  for (let id = 0; id < host.engine.bundle.spec.vocabSize; id++) {
    const t = tok.tokenText(id);
    if (t === text) exact.push(id);
    else if (t.trim() === text.trim()) trimmed.push(id);
  }
  const ids = exact.length ? exact : trimmed;
  if (!ids.length) throw new EngineError('INTERNAL', `"${text}" is not a token of the model's vocabulary.`);
  if (ids.length > 1) throw new EngineError('INTERNAL', `"${text}" names ${ids.length} tokens (${ids.map((i) => JSON.stringify(tok.tokenText(i))).join(', ')}); quote the exact one.`);
  cache.set(text, ids[0]);
  return ids[0];
}

function matchNodes(g: AttributionGraph, ref: NodeRef, groups: Map<string, NodeRef[]>, depth = 0): Set<number> {
  const out = new Set<number>();
  if (depth > 16) return out;
  g.nodes.forEach((n, i) => {
    switch (ref.kind) {
      case 'feature':
        if (n.kind === 'feature' && n.layer === ref.layer && n.index === ref.feature && (ref.position === undefined || n.position === ref.position)) out.add(i);
        break;
      case 'label':
        if (n.kind === 'feature' && n.label.toLowerCase().includes(ref.text.toLowerCase())) out.add(i);
        break;
      case 'token':
        if ((n.kind === 'embedding' && trimEq(g.tokens[n.position]?.text ?? '', ref.text)) || (n.kind === 'logit' && trimEq(n.token ?? '', ref.text))) out.add(i);
        break;
      case 'group':
        break;
    }
  });
  if (ref.kind === 'group') for (const m of groups.get(ref.name) ?? []) for (const i of matchNodes(g, m, groups, depth + 1)) out.add(i);
  return out;
}

function reachable(g: AttributionGraph, from: Set<number>): Set<number> {
  const next: number[][] = g.nodes.map(() => []);
  for (let e = 0; e < g.edges.source.length; e++) next[g.edges.source[e]].push(g.edges.target[e]);
  const seen = new Set<number>();
  const stack = [...from];
  while (stack.length) {
    const i = stack.pop()!;
    for (const j of next[i]) {
      if (!seen.has(j)) {
        seen.add(j);
        stack.push(j);
      }
    }
  }
  return seen;
}

/** The features a node reference names, as ablations (a token names none). */
function ablations(g: AttributionGraph, ref: NodeRef, groups: Map<string, NodeRef[]>, depth = 0): FeatureIntervention[] {
  if (depth > 16) return [];
  switch (ref.kind) {
    case 'feature':
      return [{ layer: ref.layer, feature: ref.feature, positions: ref.position === undefined ? undefined : [ref.position], mode: 'ablate' }];
    case 'label':
      return g.nodes.filter((n) => n.kind === 'feature' && n.label.toLowerCase().includes(ref.text.toLowerCase())).map((n) => ({ layer: n.layer, feature: n.index, positions: [n.position], mode: 'ablate' as const }));
    case 'token':
      throw new EngineError('INTERNAL', `"${ref.text}" is a token, not a feature: ablate names features (L3#95, "label" or a group).`);
    case 'group':
      return (groups.get(ref.name) ?? []).flatMap((m) => (m.kind === 'token' ? [] : ablations(g, m, groups, depth + 1)));
  }
}

async function check(host: CircuitTestHost, v: Variant, e: Expectation, groups: Map<string, NodeRef[]>, opts: RunOptions, ids: Map<string, number>): Promise<{ ok: boolean; message: string }> {
  const { engine } = host;
  const V = engine.bundle.spec.vocabSize;
  const T = v.raw.tokens.length;
  const last = v.raw.frozen.logits.subarray((T - 1) * V, T * V);
  const graphAt = (node: number) => {
    let g = v.graphs.get(node);
    if (!g) {
      g = toAttributionGraph(engine, host.dictionary, v.raw, v.text, { nodeThreshold: node, edgeThreshold: opts.edgeThreshold });
      v.graphs.set(node, g);
    }
    return g;
  };
  const defaultNode = opts.nodeThreshold ?? 0.8;
  const tokText = (id: number) => engine.bundle.tokenizer.tokenText(id);
  switch (e.kind) {
    case 'top': {
      const top = topK(last, e.k);
      const ok = top.some((id) => trimEq(tokText(id), e.token));
      return { ok, message: `top ${e.k}: ${top.map((id) => JSON.stringify(tokText(id))).join(', ')}` };
    }
    case 'path': {
      const g = graphAt(defaultNode);
      let cur = matchNodes(g, e.nodes[0], groups);
      if (!cur.size) return { ok: false, message: `${describeNode(e.nodes[0])} is not in the graph (node threshold ${defaultNode})` };
      for (let i = 1; i < e.nodes.length; i++) {
        const want = matchNodes(g, e.nodes[i], groups);
        if (!want.size) return { ok: false, message: `${describeNode(e.nodes[i])} is not in the graph (node threshold ${defaultNode})` };
        const r = reachable(g, cur);
        cur = new Set([...want].filter((x) => r.has(x)));
        if (!cur.size) return { ok: false, message: `no path from ${describeNode(e.nodes[i - 1])} to ${describeNode(e.nodes[i])} in the graph (node threshold ${defaultNode})` };
      }
      return { ok: true, message: `path found (node threshold ${defaultNode})` };
    }
    case 'in-graph': {
      const t = e.threshold ?? defaultNode;
      const found = matchNodes(graphAt(t), e.node, groups).size > 0;
      return { ok: found !== e.negate, message: `${describeNode(e.node)} is ${found ? '' : 'not '}in the graph at node threshold ${t}` };
    }
    case 'ablate': {
      const id = tokenIds(host, e.token, ids);
      const ivs = ablations(graphAt(defaultNode), e.node, groups);
      if (!ivs.length) return { ok: false, message: `${describeNode(e.node)} names no feature of the graph` };
      const r = await interveneWith(engine, v.raw.tokens.map((t) => t.id), ivs, { ...DEFAULT_SEMANTICS, track: [id], topK: 1 }, { signal: opts.signal });
      if (!r.applied.length) return { ok: false, message: `${describeNode(e.node)} is not active in this prompt` };
      const t = r.tracked[0];
      const moved = e.direction === 'lowers' ? -t.deltaLogit : t.deltaLogit;
      const sign = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(3);
      return { ok: moved >= e.by, message: `${JSON.stringify(t.token)}: logit ${t.logitBefore.toFixed(3)} → ${t.logitAfter.toFixed(3)} (${sign(t.deltaLogit)}; needs ${e.direction === 'lowers' ? '≤ −' : '≥ +'}${e.by}) with ${describeSemantics(r.semantics)}` };
    }
  }
}

/** Runs one prompt block's tests over every variant of its paraphrase family. */
export async function runBlock(host: CircuitTestHost, prompt: string, promptLine: number, lines: ExpectationLine[], opts: RunOptions = {}): Promise<BlockResult> {
  const parsed = parseBlockLines(lines);
  const variants = expandFamily(prompt);
  const ids = new Map<string, number>();
  const vs: Variant[] = [];
  for (const text of variants) vs.push({ text, raw: await computeAttribution(host.engine, text, {}, { signal: opts.signal }), graphs: new Map() });
  const results: ExpectationResult[] = [];
  for (const item of parsed.items) {
    if (item.error || !item.expectation) {
      results.push({ line: item.line, text: item.text, ok: false, message: `syntax: ${item.error}` });
      continue;
    }
    const failures: string[] = [];
    let lastMessage = '';
    for (const v of vs) {
      let r: { ok: boolean; message: string };
      try {
        r = await check(host, v, item.expectation, parsed.groups, opts, ids);
      } catch (e) {
        r = { ok: false, message: (e as Error).message };
      }
      lastMessage = r.message;
      if (!r.ok) failures.push(vs.length > 1 ? `${JSON.stringify(v.text)}: ${r.message}` : r.message);
    }
    results.push({ line: item.line, text: item.text, ok: !failures.length, message: failures.length ? failures.join('\n') : lastMessage });
  }
  const out: BlockResult = { line: promptLine, prompt, variants, results };
  if (vs.length > 1) out.stability = stability(host, vs, opts.nodeThreshold ?? 0.8, opts.edgeThreshold);
  return out;
}

function stability(host: CircuitTestHost, vs: Variant[], node: number, edge?: number): StabilityRow[] {
  const count = new Map<string, { n: number; label: string }>();
  for (const v of vs) {
    let g = v.graphs.get(node);
    if (!g) {
      g = toAttributionGraph(host.engine, host.dictionary, v.raw, v.text, { nodeThreshold: node, edgeThreshold: edge });
      v.graphs.set(node, g);
    }
    const seen = new Set<string>();
    for (const n of g.nodes) {
      if (n.kind !== 'feature') continue;
      const k = `L${n.layer}#${n.index}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const c = count.get(k) ?? { n: 0, label: n.label };
      c.n++;
      count.set(k, c);
    }
  }
  return [...count.entries()].map(([k, c]) => ({ node: k, label: c.label, share: c.n / vs.length })).sort((a, b) => b.share - a.share || a.node.localeCompare(b.node));
}

/** 0-based line of an offset. */
function lineOf(doc: string, offset: number): number {
  let n = 0;
  for (let i = 0; i < offset; i++) if (doc.charCodeAt(i) === 10) n++;
  return n;
}

/** Every prompt block of a document that has test lines, run in order. */
export async function runDocument(host: CircuitTestHost, doc: string, dialect: PromptDialect, opts: RunOptions = {}): Promise<BlockResult[]> {
  const out: BlockResult[] = [];
  for (const b of findPromptBlocks(doc, dialect)) {
    if (!b.expectations?.length) continue;
    out.push(await runBlock(host, b.text, lineOf(doc, b.start), b.expectations, opts));
  }
  return out;
}
