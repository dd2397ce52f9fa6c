/**
 * Real graph files from elsewhere (circuit-tracer, Neuronpedia's graph server; provenance in
 * test/fixtures/graphs/interop/SOURCES.md and the shared folder's SOURCES.md): every one opens, keeps
 * its nodes and links, and round-trips through our writer; what we write validates against
 * Neuronpedia's own JSON schema; circuit-tracer's older colliding error ids are read as their producer
 * meant them, while other repeated ids are still refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fromGraphFile, parseGraphFile, readGraphFile, serializeGraphFile, toGraphFile } from '../../../src/engine/graph-file';
import { kindOfFeatureType } from '../../../src/shared/graph-schema';
import { EngineError } from '../../../src/engine/errors';

const ROOT = resolve(__dirname, '..', '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'graphs', 'interop');
const SCHEMA = JSON.parse(readFileSync(join(FIXTURES, 'neuronpedia-graph-schema.json'), 'utf8')) as Schema;
/** The shared folder beside the clone (CI), inside it (the device machine), or on this workstation. */
const SHARED = [join(ROOT, '..', 'shared', 'interop-graphs'), join(ROOT, 'shared', 'interop-graphs'), '/work/shared/interop-graphs'].find((d) => existsSync(d));

function graphFiles(): string[] {
  const out = readdirSync(FIXTURES).filter((f) => f.endsWith('.json') && !f.includes('schema')).map((f) => join(FIXTURES, f));
  if (SHARED) {
    for (const f of readdirSync(SHARED)) if (f.endsWith('.json') && !f.includes('schema') && !f.includes('meow-clt')) out.push(join(SHARED, f));
  } else {
    console.log('# ../shared/interop-graphs not found: only the copied fixtures are read');
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// A JSON Schema (draft-07) check of the keywords Neuronpedia's schema uses

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema | Schema[];
  prefixItems?: Schema[];
  additionalProperties?: boolean | Schema;
  minItems?: number;
  maxItems?: number;
};

function typeOf(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  if (typeof x === 'number') return Number.isInteger(x) ? 'integer' : 'number';
  return typeof x;
}

function schemaErrors(x: unknown, s: Schema, path = '$', out: string[] = []): string[] {
  if (out.length > 20) return out;
  if (s.type) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const t = typeOf(x);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) {
      out.push(`${path}: ${t}, schema wants ${types.join('|')}`);
      return out;
    }
  }
  if (typeOf(x) === 'object') {
    const o = x as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in o)) out.push(`${path}: missing required ${r}`);
    for (const [k, v] of Object.entries(o)) {
      const p = s.properties?.[k];
      if (p) schemaErrors(v, p, `${path}.${k}`, out);
      else if (s.additionalProperties === false) out.push(`${path}: unexpected property ${k}`);
      else if (typeof s.additionalProperties === 'object') schemaErrors(v, s.additionalProperties, `${path}.${k}`, out);
    }
  }
  if (Array.isArray(x)) {
    if (s.minItems !== undefined && x.length < s.minItems) out.push(`${path}: ${x.length} items < ${s.minItems}`);
    if (s.maxItems !== undefined && x.length > s.maxItems) out.push(`${path}: ${x.length} items > ${s.maxItems}`);
    const tuple = s.prefixItems ?? (Array.isArray(s.items) ? s.items : undefined);
    x.forEach((v, i) => {
      const item = tuple ? tuple[i] : (s.items as Schema | undefined);
      if (item) schemaErrors(v, item, `${path}[${i}]`, out);
    });
  }
  return out;
}

test('the schema check itself catches what it should', () => {
  assert.deepEqual(schemaErrors({ nodes: [] }, SCHEMA).length > 0, true, 'a file with no metadata must fail');
  const g = JSON.parse(readFileSync(join(FIXTURES, 'ct-pr71__meow-clt.json'), 'utf8'));
  g.nodes[0].ctx_idx = 'one';
  assert.ok(schemaErrors(g, SCHEMA).some((e) => e.includes('nodes[0].ctx_idx')));
});

test('every real graph file opens, keeps its nodes and links, and round-trips through our writer, which Neuronpedia\'s schema accepts', () => {
  const files = graphFiles();
  assert.ok(files.length >= 1);
  for (const path of files) {
    const warnings: string[] = [];
    const file = readGraphFile(path, { onWarning: (m) => warnings.push(m) });
    const raw = JSON.parse(readFileSync(path, 'utf8')) as { nodes: unknown[]; links: unknown[] };
    assert.equal(file.nodes.length, raw.nodes.length, path);
    assert.equal(file.links.length, raw.links.length, path);
    const ids = new Set(file.nodes.map((n) => n.node_id));
    assert.equal(ids.size, file.nodes.length, `${path}: node ids are unique after reading`);
    const graph = fromGraphFile(file);
    const written = serializeGraphFile(toGraphFile(graph));
    const again = parseGraphFile(written);
    const back = fromGraphFile(again);
    assert.equal(back.nodes.length, graph.nodes.length, path);
    assert.deepEqual(Array.from(back.edges.source), Array.from(graph.edges.source), path);
    assert.deepEqual(Array.from(back.edges.target), Array.from(graph.edges.target), path);
    assert.deepEqual(Array.from(back.edges.weight), Array.from(graph.edges.weight), path);
    back.nodes.forEach((n, i) => assert.deepEqual([n.kind, n.layer, n.position, n.index], [graph.nodes[i].kind, graph.nodes[i].layer, graph.nodes[i].position, graph.nodes[i].index], `${path} node ${i}`));
    assert.deepEqual(schemaErrors(JSON.parse(written), SCHEMA), [], `${path}: our rewrite against Neuronpedia's schema`);
    if (path.endsWith('dollar.json')) assert.match(warnings.join('\n'), /"0_2_1"/);
    else assert.deepEqual(warnings, [], path);
  }
});

/** meow-clt with one more node: a layer-0 feature whose id collides with the legacy id of the layer-8 error at position 10. */
function withLegacyCollision(): { g: Record<string, any>; id: string } {
  const g = JSON.parse(readFileSync(join(FIXTURES, 'ct-pr71__meow-clt.json'), 'utf8'));
  const id = '0_8_10';
  const err = g.nodes.find((n: { node_id: string }) => n.node_id === id);
  assert.equal(kindOfFeatureType(err.feature_type, err.layer), 'error');
  g.nodes.unshift({ ...err, node_id: id, feature: 8, layer: '0', feature_type: 'cross layer transcoder', jsNodeId: '0_8-0', clerp: 'collider', activation: 1.5 });
  const emb = g.nodes.find((n: { feature_type: string; ctx_idx: number }) => n.feature_type === 'embedding' && n.ctx_idx === 10);
  const low = g.nodes.find((n: { layer: string; feature_type: string }) => n.layer === '3' && n.feature_type !== 'embedding') ?? g.nodes.find((n: { layer: string }) => Number(n.layer) >= 1 && Number(n.layer) <= 7);
  const high = g.links.find((l: { source: string }) => l.source === id);
  g.links.push({ source: emb.node_id, target: id, weight: 0.5 }, { source: id, target: low.node_id, weight: 0.25 }, { source: id, target: high.target, weight: 0.125 });
  return { g, id };
}

test('circuit-tracer\'s older error ids colliding with a layer-0 feature are told apart by feature_type and layer, with a warning', () => {
  const { g, id } = withLegacyCollision();
  const warnings: string[] = [];
  const file = parseGraphFile(JSON.stringify(g), { onWarning: (m) => warnings.push(m) });
  assert.equal(file.nodes.length, g.nodes.length);
  assert.equal(file.links.length, g.links.length);
  assert.match(warnings.join(''), /"0_8_10".*renamed \{layer\}_-1_\{pos\}/);
  const feature = file.nodes.find((n) => n.node_id === id)!;
  const error = file.nodes.find((n) => n.node_id === '8_-1_10')!;
  assert.equal(feature.layer, '0');
  assert.equal(error.layer, '8');
  const layer = (nid: string) => {
    const n = file.nodes.find((x) => x.node_id === nid)!;
    const k = kindOfFeatureType(n.feature_type, n.layer);
    return k === 'embedding' ? -1 : k === 'logit' ? Infinity : Number(n.layer);
  };
  // Errors have no inputs; every link runs from a lower layer to a higher one.
  assert.ok(!file.links.some((l) => l.target === '8_-1_10'));
  for (const l of file.links) assert.ok(layer(l.source) < layer(l.target), `${l.source} → ${l.target}`);
  // The pair listed twice is one link from each node.
  const high = g.links.find((l: { source: string }) => l.source === id).target;
  const both = file.links.filter((l) => l.target === high && (l.source === id || l.source === '8_-1_10')).map((l) => l.source).sort();
  assert.deepEqual(both, [id, '8_-1_10']);
  // And it is written back with unique ids that read again without a warning.
  const again: string[] = [];
  parseGraphFile(serializeGraphFile(toGraphFile(fromGraphFile(file))), { onWarning: (m) => again.push(m) });
  assert.deepEqual(again, []);
});

test('other repeated node ids are still refused, naming the node', () => {
  const refuse = (mut: (g: Record<string, any>) => void, re: RegExp) => {
    const { g } = withLegacyCollision();
    mut(g);
    assert.throws(() => parseGraphFile(JSON.stringify(g)), (e: unknown) => e instanceof EngineError && e.code === 'GRAPH_FILE_INVALID' && re.test(e.message));
  };
  // Two features with one id.
  refuse((g) => { g.nodes[0].feature_type = 'cross layer transcoder'; g.nodes.push({ ...g.nodes[0] }); }, /"0_8_10" repeats the id/);
  // The "error" is not where its legacy id says (layer 9, not 8).
  refuse((g) => { const e = g.nodes.find((n: any) => n.node_id === '0_8_10' && n.feature_type.includes('error')); e.layer = '9'; }, /"0_8_10" repeats the id/);
  // The feature is not on layer 0.
  refuse((g) => { g.nodes[0].layer = '1'; }, /"0_8_10" repeats the id/);
  // A third node with the same id.
  refuse((g) => { g.nodes.push({ ...g.nodes[0], feature: 9 }); }, /"0_8_10" repeats the id/);
  // The unambiguous id the error would get is taken already.
  refuse((g) => { g.nodes.push({ ...g.nodes[g.nodes.length - 1], node_id: '8_-1_10' }); }, /is taken too|repeats/);
});

test('JSON that is not a graph says so', () => {
  assert.throws(() => parseGraphFile(readFileSync(join(ROOT, 'package.json'))), /is JSON but not an attribution graph/);
  assert.throws(() => parseGraphFile('{"foo": 1}'), /is JSON but not an attribution graph: it has no "metadata", "nodes" or "links" \(its keys: "foo"\)/);
});
