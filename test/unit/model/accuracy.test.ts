/**
 * The shipped embedded model, loaded and run by the engine itself (loadModelBundle → ONNX forward graph),
 * reaches the held-out accuracies that the training tool measured in PyTorch and wrote to REPORT.json:
 * per task, within one point. Accuracy is computed exactly as the tool does: the prompt tokenized with
 * BOS, top-1 = argmax of the last position's logits equals the answer's token.
 *
 * The truth here is independent of the engine: the answers come from the generator of the language
 * (models/ground_truth/*.jsonl), the expected rates from a separate PyTorch implementation. A wrong
 * RoPE layout, norm, MLP gate or tokenizer in the engine drops these rates far below the report.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { ForwardRunner } from '../../../src/engine/forward';
import type { ModelBundle } from '../../../src/engine/api';

const ROOT = resolve(__dirname, '..', '..', '..');
const MODEL = join(ROOT, 'models', 'toy-llama');
const GROUND_TRUTH = join(ROOT, 'models', 'ground_truth');

interface Item {
  prompt: string;
  answer: string;
  task: string;
  path: string[];
  held_out_composition: boolean;
}

function argmaxLast(logits: { shape: number[]; data: Float32Array }): number {
  const [T, V] = logits.shape;
  let best = 0;
  for (let v = 1; v < V; v++) if (logits.data[(T - 1) * V + v] > logits.data[(T - 1) * V + best]) best = v;
  return best;
}

describe('embedded model through the engine', () => {
  let bundle: ModelBundle;
  let runner: ForwardRunner;
  let cacheDir: string;
  const report = JSON.parse(readFileSync(join(MODEL, 'REPORT.json'), 'utf8'));
  const vocab: Record<string, number> = JSON.parse(readFileSync(join(MODEL, 'tokenizer.json'), 'utf8')).model.vocab;

  before(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'ci-acc-'));
    bundle = await loadModelBundle(MODEL);
    runner = await ForwardRunner.create(bundle, { provider: 'cpu', threads: 1, cacheDir });
  });

  const tasks = readdirSync(GROUND_TRUTH).filter((f) => f.endsWith('.jsonl')).map((f) => f.slice(0, -'.jsonl'.length)).sort();

  test('every task of the language has ground truth and a reported accuracy', () => {
    assert.deepEqual(tasks, ['arithmetic', 'color_shape', 'induction', 'one_hop', 'square', 'two_hop']);
    for (const t of tasks) assert.equal(typeof report.accuracy[t]?.accuracy, 'number', t);
  });

  for (const task of tasks) {
    test(`${task}: held-out top-1 accuracy matches REPORT.json within 1 point`, async () => {
      const items: Item[] = readFileSync(join(GROUND_TRUTH, `${task}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      let correct = 0;
      for (const it of items) {
        const toks = bundle.tokenizer.encode(it.prompt);
        // BOS first, then one known word per whitespace-separated word: the prompt the tool scored.
        assert.equal(toks[0].id, bundle.spec.bosTokenId);
        assert.deepEqual(toks.slice(1).map((t) => t.id), it.prompt.split(' ').map((w) => vocab[w]), it.prompt);
        const cache = await runner.run(toks.map((t) => t.id));
        if (argmaxLast(cache.logits) === vocab[it.answer]) correct++;
      }
      const acc = correct / items.length;
      const want = report.accuracy[task];
      assert.equal(items.length, want.n);
      assert.ok(Math.abs(acc - want.accuracy) <= 0.01, `${task}: engine ${acc.toFixed(4)} vs reported ${want.accuracy}`);
    });
  }

  test('cleanup', () => rmSync(cacheDir, { recursive: true, force: true }));
});
