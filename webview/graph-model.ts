/**
 * The viewer's model of an attribution graph, built from graph JSON (Neuronpedia / circuit-tracer
 * format) that may come from anyone: every field is checked, strings are bounded, numbers must be finite,
 * links to unknown nodes are dropped. Nothing here touches the DOM; labels stay plain strings that the
 * view only ever sets as text.
 */
import { GRAPH_LIMITS, constantNodeLabel, kindOfFeatureType, parseEmbeddingClerp, parseFeatureNodeId, parseLogitClerp, tokenLabel, type GraphFile, type NodeKind } from '../src/shared/graph-schema';
import { DEFAULT_LABEL_MIN_F1, labelLine, labelView, type LabelScore } from '../src/shared/label-text';

export { tokenLabel, type NodeKind };

export interface ViewNode {
  id: string;
  kind: NodeKind;
  /** Row in the layered layout: embeddings -1, features/errors their layer, logits nLayers. */
  layer: number;
  ctx: number;
  /** Transcoder feature index (features only). */
  feature?: number;
  activation?: number;
  influence?: number;
  label: string;
  prob?: number;
  /** Feature nodes: the label's score as text ("F1 0.62 · P 0.71 · R 0.55"), when the graph carries one. */
  labelScore?: string;
  /** What the label was scored against, when known. */
  labelAgainst?: string;
  /** Whether the label reads as trusted (at or above the threshold) rather than "unlabelled (best guess …)". */
  labelTrusted?: boolean;
}

/** One attention head's part of an edge between positions (Circuit Inspector's optional link `heads`). */
export interface LinkHead {
  layer: number;
  head: number;
  /** In the edge's units; over all heads the parts sum to the edge. */
  weight: number;
}

export interface ViewLink {
  source: string;
  target: string;
  weight: number;
  /** The heads carrying the edge, largest |part| first (edges between positions, when the graph has them). */
  heads?: LinkHead[];
}

/** A link's `heads` field, checked: at most 16 [layer, head, part] triples of integers ≥ 0 and a finite part. */
export function linkHeads(x: unknown): LinkHead[] | undefined {
  if (!Array.isArray(x) || !x.length || x.length > 16) return undefined;
  const out: LinkHead[] = [];
  for (const h of x) {
    if (!Array.isArray(h) || h.length !== 3) return undefined;
    const [l, hd, w] = h as unknown[];
    if (!Number.isInteger(l) || !Number.isInteger(hd) || (l as number) < 0 || (hd as number) < 0 || (l as number) > 10000 || (hd as number) > 100000) return undefined;
    const v = num(w);
    if (v === undefined) return undefined;
    out.push({ layer: l as number, head: hd as number, weight: v });
  }
  return out;
}

export interface Supernode {
  label: string;
  ids: string[];
}

export interface ViewGraph {
  nodes: ViewNode[];
  byId: Map<string, ViewNode>;
  links: ViewLink[];
  nLayers: number;
  promptTokens: string[];
  prompt: string;
  slug: string;
  pinnedIds: string[];
  supernodes: Supernode[];
}

export class GraphFormatError extends Error {}

export const LIMITS = { nodes: GRAPH_LIMITS.nodes, links: GRAPH_LIMITS.links, label: 300, tokens: 100_000 };

function str(x: unknown, max = LIMITS.label): string {
  if (typeof x === 'string') return x.length > max ? x.slice(0, max) + '…' : x;
  if (typeof x === 'number' && Number.isFinite(x)) return String(x);
  return '';
}
function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}
function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Feature index from circuit-tracer's node_id `{layer}_{feature}_{ctx}` (the `feature` field may hold a
 * combined layer/feature number — circuit-tracer's cantor pairing — so the id comes first), else from
 * `feature`.
 */
function featureIndex(raw: Record<string, unknown>, id: string): number | undefined {
  const m = parseFeatureNodeId(id);
  if (m) return m.index;
  const f = num(raw.feature);
  return f !== undefined && Number.isInteger(f) && f >= 0 ? f : undefined;
}

/** The token of circuit-tracer's embedding clerp `Emb: "tok"`, else undefined. */
function embeddingToken(clerp: string): string | undefined {
  return parseEmbeddingClerp(clerp) ?? (clerp || undefined);
}

/** `Output "tok" (p=0.612)` → `tok 61%`: short enough to sit under a node. */
function logitLabel(clerp: string, prob: number | undefined): string {
  const m = parseLogitClerp(clerp);
  const tok = m ? m.token : clerp;
  const p = m?.p ?? prob;
  const shown = tokenLabel(tok);
  return p !== undefined && Number.isFinite(p) ? `${shown} ${(p * 100).toFixed(p < 0.1 ? 1 : 0)}%` : shown || 'logit';
}

/** A node's label evidence (Circuit Inspector's optional `label_*` fields), checked like every field. */
function evidenceOf(n: Record<string, unknown>): LabelScore | undefined {
  const in01 = (x: unknown) => {
    const v = num(x);
    return v !== undefined && v >= 0 && v <= 1 ? v : undefined;
  };
  const f1 = in01(n.label_f1);
  if (f1 === undefined) return undefined;
  const e: LabelScore = { f1 };
  const p = in01(n.label_precision), r = in01(n.label_recall);
  if (p !== undefined) e.precision = p;
  if (r !== undefined) e.recall = r;
  const against = str(n.label_scored_against) || (str(n.label_latent) ? `the latent ${str(n.label_latent)}` : '');
  if (against) e.against = against;
  return e;
}

export interface NormalizeOptions {
  /** Labels scoring below this F1 read "unlabelled (best guess: …)" (the circuitInspector.labels.minF1 setting). */
  labelMinF1?: number;
}

export function normalizeGraph(raw: unknown, opts: NormalizeOptions = {}): ViewGraph {
  if (!isObj(raw)) throw new GraphFormatError('The graph file is not a JSON object.');
  if (!Array.isArray(raw.nodes)) throw new GraphFormatError('The graph file has no "nodes" list.');
  if (!Array.isArray(raw.links)) throw new GraphFormatError('The graph file has no "links" list.');
  if (raw.nodes.length > LIMITS.nodes) throw new GraphFormatError(`The graph has ${raw.nodes.length} nodes; at most ${LIMITS.nodes} can be shown.`);
  if (raw.links.length > LIMITS.links) throw new GraphFormatError(`The graph has ${raw.links.length} links; at most ${LIMITS.links} can be shown.`);
  const meta = isObj(raw.metadata) ? raw.metadata : {};
  const promptTokens = Array.isArray(meta.prompt_tokens) ? meta.prompt_tokens.slice(0, LIMITS.tokens).map((t) => str(t)) : [];

  const parsed: { raw: Record<string, unknown>; id: string; kind: NodeKind; layerStr: string; ctx: number }[] = [];
  let maxLayer = -1;
  const seen = new Set<string>();
  for (const n of raw.nodes) {
    if (!isObj(n)) continue;
    const id = str(n.node_id ?? n.nodeId, 200);
    if (!id || seen.has(id)) continue;
    seen.add(id);
    const layerStr = str(n.layer, 20);
    const kind = kindOfFeatureType(str(n.feature_type, 100), layerStr);
    const ctx = num(n.ctx_idx);
    parsed.push({ raw: n, id, kind, layerStr, ctx: ctx !== undefined && ctx >= 0 ? Math.floor(ctx) : 0 });
    if (kind === 'feature' || kind === 'error') {
      const l = Number(layerStr);
      if (Number.isInteger(l) && l >= 0 && l < 10000) maxLayer = Math.max(maxLayer, l);
    }
  }
  const nLayers = maxLayer + 1;

  const nodes: ViewNode[] = parsed.map(({ raw: n, id, kind, layerStr, ctx }) => {
    const l = Number(layerStr);
    const layer = kind === 'embedding' ? -1 : kind === 'logit' ? nLayers : Number.isInteger(l) && l >= 0 && l < 10000 ? l : 0;
    const clerp = str(n.clerp);
    const feature = kind === 'feature' ? featureIndex(n, id) : undefined;
    let label: string;
    let evidence: ReturnType<typeof labelView> | undefined;
    if (kind === 'feature') {
      evidence = labelView(layer, feature ?? -1, clerp, evidenceOf(n), opts.labelMinF1 ?? DEFAULT_LABEL_MIN_F1);
      label = feature === undefined ? clerp || `L${layer} #?` : labelLine(evidence);
    }
    else if (kind === 'embedding') label = tokenLabel(embeddingToken(clerp) ?? promptTokens[ctx] ?? '');
    else if (kind === 'error') label = clerp || constantNodeLabel(str(n.feature_type), id, layer);
    else label = logitLabel(clerp, num(n.token_prob));
    const node: ViewNode = { id, kind, layer, ctx, label };
    if (feature !== undefined) node.feature = feature;
    if (evidence) {
      node.labelTrusted = evidence.trusted;
      if (evidence.score) node.labelScore = evidence.score;
      if (evidence.against) node.labelAgainst = evidence.against;
    }
    const act = num(n.activation);
    if (act !== undefined) node.activation = act;
    const inf = num(n.influence);
    if (inf !== undefined) node.influence = inf;
    const prob = num(n.token_prob);
    if (kind === 'logit' && prob !== undefined) node.prob = prob;
    return node;
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));

  const links: ViewLink[] = [];
  for (const e of raw.links) {
    if (!isObj(e)) continue;
    const source = str(e.source, 200);
    const target = str(e.target, 200);
    const weight = num(e.weight);
    if (weight === undefined || !byId.has(source) || !byId.has(target) || source === target) continue;
    const heads = linkHeads(e.heads);
    links.push(heads ? { source, target, weight, heads } : { source, target, weight });
  }

  const q = isObj(raw.qParams) ? raw.qParams : {};
  const pinnedIds = Array.isArray(q.pinnedIds) ? q.pinnedIds.map((x) => str(x, 200)).filter((x) => byId.has(x)) : [];
  const supernodes: Supernode[] = [];
  if (Array.isArray(q.supernodes)) {
    for (const s of q.supernodes) {
      if (!Array.isArray(s) || s.length < 2) continue;
      const ids = s.slice(1).map((x) => str(x, 200)).filter((x) => byId.has(x));
      if (ids.length) supernodes.push({ label: str(s[0]) || 'group', ids });
    }
  }

  return {
    nodes,
    byId,
    links,
    nLayers,
    promptTokens,
    prompt: str(meta.prompt, 100_000),
    slug: str(meta.slug, 200),
    pinnedIds,
    supernodes,
  };
}

/** Writes the viewer's pins and supernodes back into the graph JSON (for export / save). */
export function withViewState(graph: GraphFile, pinnedIds: string[], supernodes: Supernode[]): GraphFile {
  return {
    ...graph,
    qParams: {
      ...(graph.qParams ?? {}),
      pinnedIds: [...pinnedIds],
      supernodes: supernodes.map((s) => [s.label, ...s.ids]),
    },
  };
}
