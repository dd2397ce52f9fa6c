/**
 * The engine session as the worker uses it: one forward pass per analysis (counted on the runner the
 * engine really calls), a re-prune from the kept raw attribution that runs no forward pass and no
 * backward sweep, and a graph identical to the one the one-call `attribute()` computes on its own.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { attribute } from '../../../src/engine/attribution/attribute';
import { BackwardSweep } from '../../../src/engine/attribution/backward';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { loadDictionary } from '../../../src/engine/dictionaries/index';
import { ForwardRunner } from '../../../src/engine/forward';
import { fromGraphFile, nodeIdOf, toGraphFile } from '../../../src/engine/graph-file';
import { ModelSession } from '../../../src/engine/session';
import { loadEngine } from '../../../src/worker/engine-adapter';
import { EngineService } from '../../../src/worker/engine-service';
import type { CallContext } from '../../../src/shared/rpc';
import type { GraphFile } from '../../../src/shared/graph-schema';
import { CACHE_DIR, MODELS, TRANSCODERS } from './helpers';

const MODEL = join(MODELS, 'llama-tiny');
const DICT = join(TRANSCODERS, 'llama-tiny');
const PROMPT = 'The capital of Texas is Austin. The capital of Texas is';
const ctx: CallContext = { signal: new AbortController().signal, progress: () => undefined };
const ARGS = { text: PROMPT, nodeThreshold: 0.6, edgeThreshold: 0.9, maxFeatureNodes: 4096, batchSize: 16, slug: 's' };

after(() => rmSync(CACHE_DIR, { recursive: true, force: true }));

/** Counts calls of a prototype method for the duration of `body`. */
async function counting<T>(proto: object, name: string, body: (count: () => number) => Promise<T>): Promise<T> {
  const p = proto as Record<string, (...a: unknown[]) => unknown>;
  const original = p[name];
  let n = 0;
  p[name] = function (this: unknown, ...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  try {
    return await body(() => n);
  } finally {
    p[name] = original;
  }
}

const ids = (g: GraphFile) => g.nodes.map((n) => n.node_id).sort();
const links = (g: GraphFile) => g.links.map((l) => `${l.source}>${l.target}:${l.weight}`).sort();

test('an analysis makes one forward pass; re-pruning makes none and no backward sweep', async () => {
  const service = new EngineService(loadEngine);
  await service.loadModel({ modelPath: MODEL, transcoderPath: DICT, provider: 'cpu', threads: 1, cacheDir: CACHE_DIR }, ctx);
  try {
    await counting(ForwardRunner.prototype, 'runTokens', async (forwards) => {
      const first = await service.analyze(ARGS, ctx);
      assert.equal(forwards(), 1, 'one forward pass for a fresh prompt');
      // Hovers and decorations on the analysed prompt reuse the same run.
      await service.forward({ text: PROMPT }, ctx);
      assert.equal(forwards(), 1);

      await counting(BackwardSweep.prototype, 'run', async (sweeps) => {
        const looser = service.prune({ nodeThreshold: 0.95, edgeThreshold: 0.99, slug: 's' });
        const tighter = service.prune({ nodeThreshold: 0.3, edgeThreshold: 0.8, slug: 's' });
        const same = service.prune({ nodeThreshold: ARGS.nodeThreshold, edgeThreshold: ARGS.edgeThreshold, slug: 's' });
        assert.equal(forwards(), 1, 're-pruning runs no forward pass');
        assert.equal(sweeps(), 0, 're-pruning runs no backward sweep');
        // Pruning nests: a looser threshold keeps a superset of the nodes; the same thresholds give the same graph.
        const loose = new Set(ids(looser.graph));
        assert.ok(ids(first.graph).every((id) => loose.has(id)));
        const mid = new Set(ids(first.graph));
        assert.ok(ids(tighter.graph).every((id) => mid.has(id)));
        assert.ok(looser.graph.nodes.length > tighter.graph.nodes.length);
        assert.deepEqual(ids(same.graph), ids(first.graph));
        assert.deepEqual(links(same.graph), links(first.graph));
        // The saved graph says what it was pruned at.
        assert.deepEqual(looser.graph.metadata.pruning_settings, { node_threshold: 0.95, edge_threshold: 0.99 });
        assert.equal(looser.graph.metadata.node_threshold, 0.95);
      });
    });
  } finally {
    service.dispose();
  }
});

test('re-pruning the kept attribution looser and tighter gives the graph a fresh analysis at those thresholds gives', async () => {
  const service = new EngineService(loadEngine);
  await service.loadModel({ modelPath: MODEL, transcoderPath: DICT, provider: 'cpu', threads: 1, cacheDir: CACHE_DIR }, ctx);
  const bundle = await loadModelBundle(MODEL);
  const dict = await loadDictionary(DICT, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
  try {
    await service.analyze(ARGS, ctx);
    const sizes: number[] = [];
    for (const [node, edge] of [[0.95, 0.99], [0.3, 0.8], [0.99, 0.999]]) {
      const re = service.prune({ nodeThreshold: node, edgeThreshold: edge, slug: 's' }).graph;
      // Independent of everything the service kept: a new engine, forward pass, sweeps and prune.
      const fresh = toGraphFile(await attribute(bundle, dict, PROMPT, { nodeThreshold: node, edgeThreshold: edge, maxFeatureNodes: ARGS.maxFeatureNodes, batchSize: ARGS.batchSize, runtime: { provider: 'cpu', threads: 1, cacheDir: CACHE_DIR } }));
      assert.deepEqual(ids(re), ids(fresh), `nodes at ${node}/${edge}`);
      assert.deepEqual(links(re), links(fresh), `edges at ${node}/${edge}`);
      sizes.push(re.nodes.length);
    }
    assert.ok(sizes[0] > sizes[1] && sizes[2] > sizes[0], `graph sizes ${sizes}`);
  } finally {
    service.dispose();
    dict.release();
  }
});

test("the session's run → attribute → prune equals the one-call attribute() exactly", async () => {
  const bundle = await loadModelBundle(MODEL);
  const dict = await loadDictionary(DICT, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
  const runtime = { provider: 'cpu' as const, threads: 1, cacheDir: CACHE_DIR };
  const options = { nodeThreshold: 0.6, edgeThreshold: 0.9, batchSize: 16 };
  const session = await ModelSession.open({ model: bundle, dictionaries: [dict], runtime });
  const { graph } = await session.analyze(PROMPT, options);
  const alone = await attribute(bundle, dict, PROMPT, { ...options, runtime });
  const key = (g: typeof graph) => g.nodes.map((n) => nodeIdOf(n, g.nLayers));
  assert.deepEqual(key(graph), key(alone));
  assert.deepEqual([...graph.edges.weight], [...alone.edges.weight]);
  assert.deepEqual(graph.scores, alone.scores);
  await session.dispose();
});

test('several dictionaries open at once, each encoding the same run of the model', async () => {
  const session = await ModelSession.open({ model: MODEL, dictionaries: [DICT, DICT], runtime: { provider: 'cpu', threads: 1, cacheDir: CACHE_DIR } });
  assert.equal(session.dictionaries.length, 2);
  const [a, b] = await Promise.all(session.dictionaries.map((d) => session.run(PROMPT, { dictionary: d })));
  assert.deepEqual([...a.features.act], [...b.features.act]);
  await session.dispose();
});

test('a graph file read back keeps the thresholds it was pruned at', async () => {
  const service = new EngineService(loadEngine);
  await service.loadModel({ modelPath: MODEL, transcoderPath: DICT, provider: 'cpu', threads: 1, cacheDir: CACHE_DIR }, ctx);
  await service.analyze(ARGS, ctx);
  const g = fromGraphFile(service.prune({ nodeThreshold: 0.5, edgeThreshold: 0.7, slug: 's' }).graph);
  assert.deepEqual(g.thresholds, { node: 0.5, edge: 0.7 });
  service.dispose();
});
