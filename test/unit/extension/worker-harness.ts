/**
 * A real engine worker for the worker tests: the TypeScript entry compiled on the fly by tsx's CommonJS
 * hook (the extension runs the esbuild bundle), the extension's RPC client on its port, and a fresh ONNX
 * graph cache folder, removed by stop().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RpcClient, type Port } from '../../../src/worker/rpc-endpoints';

export const ROOT = resolve(__dirname, '../../..');

export interface WorkerHarness {
  client: RpcClient;
  cacheDir: string;
  stop(): Promise<void>;
}

export function startWorker(): WorkerHarness {
  const cacheDir = mkdtempSync(join(tmpdir(), 'ci-worker-'));
  const entry = join(ROOT, 'src/worker/engine-worker.ts');
  const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(entry)});`, { eval: true });
  const client = new RpcClient(worker as unknown as Port);
  worker.on('error', (e) => client.failAll(e as never));
  return {
    client,
    cacheDir,
    async stop() {
      // As the extension stops it: calls settled and sessions released before the thread goes.
      await client.call('shutdown', {}).catch(() => undefined);
      client.dispose();
      await worker.terminate();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}
