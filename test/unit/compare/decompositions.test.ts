/**
 * The decomposition report's reconstruction figures (L0, FVU, spliced CE and KL) against an
 * independent float64 PyTorch computation (tools/reference/decomposition_ref.py) on the embedded model,
 * for its transcoders, CLT and residual SAE; and the colour × shape classifier on constructed tables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { loadDictionary } from '../../../src/engine/dictionaries/index';
import { ForwardRunner } from '../../../src/engine/forward';
import { promptReconstruction } from '../../../src/engine/decompositions/reconstruction';
import { classifyTable } from '../../../src/engine/decompositions/tasks';
import { CACHE_DIR, PYTHON, ROOT } from '../attribution/helpers';

const TOY = join(ROOT, 'models', 'toy-llama');

function reference(dictionary: string, ids: number[]) {
  const r = spawnSync(PYTHON, [join(ROOT, 'tools', 'reference', 'decomposition_ref.py'), '--model', TOY, '--dictionary', dictionary, '--ids', ids.join(',')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`decomposition_ref.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { layers: { layer: number; l0: number; fvu: number }[]; ce_clean: number; ce_spliced: number; kl_spliced: number };
}

const close = (a: number, b: number, rel: number, abs = 0) => Math.abs(a - b) <= abs + rel * Math.max(Math.abs(a), Math.abs(b));

test('L0, FVU, spliced CE and KL equal a PyTorch computation (transcoders, CLT, SAE)', async () => {
  const bundle = await loadModelBundle(TOY);
  const runner = await ForwardRunner.create(bundle, { provider: 'cpu', threads: 1, cacheDir: CACHE_DIR });
  const ids = bundle.tokenizer.encode('Louisville is in the state whose capital is').map((t) => t.id);
  for (const name of ['transcoders', 'clt', 'sae-resid-post-1']) {
    const dir = join(TOY, name);
    const dict = await loadDictionary(dir, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
    const ours = await promptReconstruction(runner, bundle, dict, ids);
    const ref = reference(dir, ids);
    assert.equal(ours.layers.length, ref.layers.length, name);
    ours.layers.forEach((l, i) => {
      assert.equal(l.layer, ref.layers[i].layer);
      // A feature within f32 rounding of its JumpReLU threshold may flip: allow one per prompt.
      assert.ok(Math.abs(l.l0 - ref.layers[i].l0) <= 1 / ours.tokens + 1e-9, `${name} L0 at layer ${l.layer}: ${l.l0} vs ${ref.layers[i].l0}`);
      assert.ok(close(l.fvu, ref.layers[i].fvu, 1e-3), `${name} FVU at layer ${l.layer}: ${l.fvu} vs ${ref.layers[i].fvu}`);
    });
    assert.ok(close(ours.ceClean, ref.ce_clean, 1e-4), `${name} CE clean ${ours.ceClean} vs ${ref.ce_clean}`);
    assert.ok(close(ours.ceSpliced, ref.ce_spliced, 1e-4), `${name} CE spliced ${ours.ceSpliced} vs ${ref.ce_spliced}`);
    assert.ok(close(ours.klSpliced, ref.kl_spliced, 1e-3, 1e-6), `${name} KL ${ours.klSpliced} vs ${ref.kl_spliced}`);
    // Splicing must change something, or the test could not tell a splice from none.
    assert.ok(ours.klSpliced > 0, `${name}: the splice changed nothing`);
  }
  await runner.dispose();
});

test('colour × shape classifier: a colour row, a shape column and a single cell are told apart', () => {
  const zero = () => [0, 1, 2, 3, 4].map(() => [0, 0, 0, 0, 0]);
  const colour = zero();
  colour[2] = [3, 3.1, 2.9, 3, 3];
  const shape = zero();
  for (const row of shape) row[4] = 2;
  const conj = zero();
  conj[1][3] = 5;
  assert.equal(classifyTable(colour), 'colour');
  assert.equal(classifyTable(shape), 'shape');
  assert.equal(classifyTable(conj), 'conjunction');
  assert.equal(classifyTable(zero().map((r) => r.map(() => 1))), 'constant');
});
