/**
 * A small graph in circuit-tracer's file format (two-hop "capital of the state containing Dallas"),
 * built here so webview tests and the standalone render have the same realistic input. One label is
 * hostile markup: it must show as text everywhere.
 */
import type { GraphFile, GraphFileMetadata, GraphFileNode } from '../../../src/shared/graph-schema';

/** A graph-file node: the given fields, the rest at the defaults a validated file would carry. */
function fileNode(n: Pick<GraphFileNode, 'node_id' | 'feature_type' | 'layer' | 'ctx_idx'> & Partial<GraphFileNode>): GraphFileNode {
  return { feature: null, token_prob: 0, is_target_logit: false, run_idx: 0, reverse_ctx_idx: 0, jsNodeId: n.node_id, clerp: '', influence: null, activation: null, ...n };
}

function fileMetadata(m: Pick<GraphFileMetadata, 'slug' | 'prompt' | 'prompt_tokens'> & Partial<GraphFileMetadata>): GraphFileMetadata {
  return { scan: '', transcoder_list: [], schema_version: 1, ...m };
}

export const HOSTILE_LABEL = '<img src=x onerror="window.__pwned=1">';

export function sampleGraph(nLayers = 4): GraphFile {
  const tokens = ['<bos>', 'Fact', ':', ' the', ' capital', ' of', ' the', ' state', ' containing', ' Dallas', ' is'];
  const nodes: GraphFileNode[] = [];
  const links: { source: string; target: string; weight: number }[] = [];
  tokens.forEach((tok, i) => nodes.push(fileNode({ node_id: `E_${100 + i}_${i}`, feature_type: 'embedding', layer: 'E', ctx_idx: i, feature: null, clerp: `Emb: "${tok}"`, influence: null, activation: null })));
  const labels = ['Dallas', 'Texas', 'say a capital', 'Austin', 'capital', 'state', 'city', 'US geography', HOSTILE_LABEL, 'is → answer'];
  let k = 0;
  const feats: string[] = [];
  for (let l = 0; l < nLayers; l++) {
    for (const pos of [4, 7, 9, 10]) {
      const n = (l + pos) % 3;
      for (let j = 0; j < n + 1; j++) {
        const f = 37 * l + 11 * pos + j;
        const id = `${l}_${f}_${pos}`;
        nodes.push(fileNode({ node_id: id, feature_type: 'cross layer transcoder', layer: String(l), ctx_idx: pos, feature: f, clerp: labels[k++ % labels.length], activation: 1 + ((f * 7) % 13) / 3, influence: Math.min(0.99, 0.05 + (k * 0.037) % 0.95) }));
        feats.push(id);
      }
    }
    nodes.push(fileNode({ node_id: `${l}_-1_10`, feature_type: 'mlp reconstruction error', layer: String(l), ctx_idx: 10, feature: null, clerp: '', influence: 0.5, activation: null }));
  }
  nodes.push(fileNode({ node_id: `${nLayers + 1}_5001_10`, feature_type: 'logit', layer: String(nLayers + 1), ctx_idx: 10, feature: 5001, clerp: 'Output " Austin" (p=0.612)', token_prob: 0.612, is_target_logit: true, influence: null, activation: null }));
  nodes.push(fileNode({ node_id: `${nLayers + 1}_5002_10`, feature_type: 'logit', layer: String(nLayers + 1), ctx_idx: 10, feature: 5002, clerp: 'Output " Dallas" (p=0.121)', token_prob: 0.121, is_target_logit: true, influence: null, activation: null }));
  // Edges upward: embeddings → features → later features → logits, with both signs.
  const byLayer = (l: number) => feats.filter((id) => id.startsWith(`${l}_`));
  byLayer(0).forEach((id, i) => links.push({ source: `E_${100 + Number(id.split('_')[2])}_${id.split('_')[2]}`, target: id, weight: 0.5 + i * 0.1 }));
  for (let l = 1; l < nLayers; l++) {
    byLayer(l).forEach((id, i) => {
      const srcs = byLayer(l - 1);
      links.push({ source: srcs[i % srcs.length], target: id, weight: ((i % 3) - 0.7) * (1 + l) });
      links.push({ source: srcs[(i + 1) % srcs.length], target: id, weight: 0.3 * (i + 1) });
    });
  }
  byLayer(nLayers - 1).forEach((id, i) => {
    links.push({ source: id, target: `${nLayers + 1}_5001_10`, weight: 2 - i * 0.5 });
    links.push({ source: id, target: `${nLayers + 1}_5002_10`, weight: -1 + i * 0.3 });
  });
  links.push({ source: `${nLayers - 1}_-1_10`, target: `${nLayers + 1}_5001_10`, weight: 0.4 });
  return {
    metadata: fileMetadata({ slug: 'dallas-two-hop', scan: 'toy-llama', prompt: tokens.slice(1).join(''), prompt_tokens: tokens, node_threshold: 0.8 }),
    qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes,
    links,
  };
}

/**
 * A synthetic graph of about `nNodes` nodes over `T` tokens and `L` layers with `fanIn` incoming links
 * per non-embedding node (for render timings; deterministic).
 */
export function syntheticGraph(nNodes: number, T = 40, L = 16, fanIn = 8): GraphFile {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const nodes: GraphFileNode[] = [];
  const byLayer: string[][] = Array.from({ length: L + 2 }, () => []);
  for (let t = 0; t < T; t++) {
    const id = `E_${t}_${t}`;
    nodes.push(fileNode({ node_id: id, feature_type: 'embedding', layer: 'E', ctx_idx: t, clerp: `Emb: "tok${t}"` }));
    byLayer[0].push(id);
  }
  const logits = 10;
  const nFeat = Math.max(0, nNodes - T - logits);
  for (let i = 0; i < nFeat; i++) {
    const l = Math.floor(rnd() * L);
    const t = Math.floor(rnd() * T);
    const id = `${l}_${i}_${t}`;
    nodes.push(fileNode({ node_id: id, feature_type: 'cross layer transcoder', layer: String(l), ctx_idx: t, feature: i, clerp: `feature ${i}`, activation: rnd() * 5, influence: rnd() }));
    byLayer[l + 1].push(id);
  }
  for (let k = 0; k < logits; k++) {
    const id = `${L + 1}_${k}_${T - 1}`;
    nodes.push(fileNode({ node_id: id, feature_type: 'logit', layer: String(L + 1), ctx_idx: T - 1, clerp: `Output "w${k}" (p=0.05)`, token_prob: 0.05 }));
    byLayer[L + 1].push(id);
  }
  const links: { source: string; target: string; weight: number }[] = [];
  for (let row = 1; row < byLayer.length; row++) {
    const below = byLayer.slice(0, row).flat();
    if (!below.length) continue;
    for (const target of byLayer[row]) {
      for (let j = 0; j < fanIn; j++) links.push({ source: below[Math.floor(rnd() * below.length)], target, weight: (rnd() - 0.4) * 2 });
    }
  }
  return {
    metadata: fileMetadata({ slug: `synthetic-${nNodes}`, prompt_tokens: Array.from({ length: T }, (_, t) => `tok${t}`), prompt: 'synthetic' }),
    qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes,
    links,
  };
}
