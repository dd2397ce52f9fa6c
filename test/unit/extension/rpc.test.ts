import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { EngineError, isEngineError } from '../../../src/engine/errors';
import { RpcClient, serve, type Port } from '../../../src/worker/rpc-endpoints';
import type { CallContext, Handlers, Progress } from '../../../src/shared/rpc';

// Handlers that exercise results, progress, errors and cancellation; the rest are never called here.
function handlers(log: string[]): Handlers {
  const unused = () => {
    throw new Error('not used');
  };
  return {
    loadModel: unused,
    validateModel: async (a) => {
      if (a.modelPath === '/missing') throw new EngineError('MODEL_NOT_FOUND', 'Model folder /missing does not exist.', 'Pick one.');
      if (a.modelPath === '/crash') throw new TypeError('x is undefined');
      return { name: a.modelPath.slice(1), nLayers: 4 };
    },
    forward: unused,
    prune: unused,
    qk: unused,
    buildDashboards: unused,
    searchFeatures: unused,
    vocabulary: unused,
    listDictionaries: unused,
    decompositions: unused,
    logitLens: async (a, ctx: CallContext) => {
      for (let i = 0; i < a.k; i++) ctx.progress({ stage: `step ${i}`, fraction: (i + 1) / a.k });
      return [{ layer: a.position, predictions: [] }];
    },
    featureActivations: (a, ctx: CallContext) =>
      new Promise((resolve, reject) => {
        // Runs until cancelled: the abort must reach the worker side.
        const timer = setInterval(() => undefined, 5);
        ctx.signal.addEventListener('abort', () => {
          clearInterval(timer);
          log.push(`aborted ${a.feature}`);
          // Like an onnxruntime run that finishes after the abort: the call settles a little later.
          setTimeout(() => {
            if (a.feature === 7) log.push(`settled ${a.feature}`);
            reject(new EngineError('CANCELLED', 'Cancelled.'));
          }, 30);
        });
        void resolve;
      }),
    featureCard: unused,
    analyze: unused,
    intervene: unused,
    circuitTests: unused,
    verify: unused,
    shutdown: () => {
      log.push('shutdown');
    },
  };
}

function pair() {
  const ch = new MessageChannel();
  const log: string[] = [];
  const server = serve(ch.port2 as unknown as Port, handlers(log));
  const client = new RpcClient(ch.port1 as unknown as Port);
  const close = () => {
    client.dispose();
    server.dispose();
    ch.port1.close();
    ch.port2.close();
  };
  return { client, log, close };
}

test('typed results and streamed progress, in order', async () => {
  const { client, close } = pair();
  try {
    const seen: Progress[] = [];
    const r = await client.call('logitLens', { text: 'x', position: 3, k: 3 }, { onProgress: (p) => seen.push(p) });
    assert.deepEqual(r, [{ layer: 3, predictions: [] }]);
    assert.deepEqual(seen.map((p) => p.fraction), [1 / 3, 2 / 3, 1]);
    const v = await client.call('validateModel', { modelPath: '/toy' });
    assert.deepEqual(v, { name: 'toy', nLayers: 4 });
  } finally {
    close();
  }
});

test('EngineErrors keep code and hint across the boundary; other errors become INTERNAL', async () => {
  const { client, close } = pair();
  try {
    await assert.rejects(client.call('validateModel', { modelPath: '/missing' }), (e: unknown) => isEngineError(e) && e.code === 'MODEL_NOT_FOUND' && e.hint === 'Pick one.');
    await assert.rejects(client.call('validateModel', { modelPath: '/crash' }), (e: unknown) => isEngineError(e) && e.code === 'INTERNAL' && e.message === 'x is undefined');
  } finally {
    close();
  }
});

test('cancelling rejects at once and aborts the worker-side signal; other calls continue', async () => {
  const { client, log, close } = pair();
  try {
    const ac = new AbortController();
    const p = client.call('featureActivations', { text: 't', layer: 0, feature: 42 }, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(client.inFlight, 1);
    ac.abort();
    await assert.rejects(p, (e: unknown) => isEngineError(e) && e.code === 'CANCELLED');
    for (let i = 0; i < 50 && !log.length; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(log, ['aborted 42']);
    assert.equal(client.inFlight, 0);
    assert.deepEqual(await client.call('validateModel', { modelPath: '/after' }), { name: 'after', nLayers: 4 });
    // An already-aborted signal never sends the call.
    await assert.rejects(client.call('validateModel', { modelPath: '/x' }, { signal: AbortSignal.abort() }), (e: unknown) => isEngineError(e) && e.code === 'CANCELLED');
  } finally {
    close();
  }
});

test('failAll rejects everything in flight (the worker died)', async () => {
  const { client, close } = pair();
  try {
    const p = client.call('featureActivations', { text: 't', layer: 0, feature: 1 });
    client.failAll(new EngineError('INTERNAL', 'The engine stopped unexpectedly.'));
    await assert.rejects(p, /stopped unexpectedly/);
  } finally {
    close();
  }
});

test('shutdown cancels the running calls and runs only once each has settled', async () => {
  const { client, log, close } = pair();
  try {
    const running = client.call('featureActivations', { text: 'x', layer: 0, feature: 7 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    await client.call('shutdown', {});
    assert.deepEqual(log, ['aborted 7', 'settled 7', 'shutdown'], 'the shutdown handler ran after the cancelled call settled');
    const e = await running;
    assert.ok(isEngineError(e) && e.code === 'CANCELLED');
  } finally {
    close();
  }
});
