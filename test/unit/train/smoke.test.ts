/**
 * Smoke test of the embedded-model tool (tools/train): a tiny config, a few steps, into a temp folder.
 * Checks that every artefact the product and the other tests load exists, parses, and has the layout
 * and shapes the formats promise (HF Llama names, circuit-tracer transcoder set, CLT, SAELens SAE,
 * Neuronpedia-shaped feature files, ground-truth JSONL, REPORT.json), and that the ground-truth prompts
 * tokenize through the shipped tokenizer.json to exactly the ids the Python side used.
 *
 * Needs python3 with torch, numpy and yaml (Debian: python3-torch python3-yaml). Without them the test
 * is skipped locally and fails in CI (CI installs them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SafetensorsFile } from '../../../src/engine/bundle/safetensors';
import { loadTokenizer } from '../../../src/engine/bundle/tokenizer';

const ROOT = resolve(__dirname, '..', '..', '..');
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const TASKS = ['arithmetic', 'color_shape', 'induction', 'one_hop', 'square', 'two_hop'];

function havePython(): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy, yaml'], { stdio: 'ignore' });
  return r.status === 0;
}

function shapes(path: string): Record<string, number[]> {
  const f = SafetensorsFile.open(path);
  const out: Record<string, number[]> = {};
  for (const [name, info] of f.tensors) {
    assert.equal(info.dtype, 'F32', `${path}: ${name} is ${info.dtype}`);
    out[name] = info.shape;
  }
  return out;
}

function json(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

const skip = !havePython() && !process.env.CI ? `${PYTHON} with torch/numpy/yaml is not installed` : false;

test('training tool: tiny config end to end writes a loadable model bundle with dictionaries and labels', { skip, timeout: 600_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'ci-train-'));
  try {
    const r = spawnSync(PYTHON, ['tools/train/main.py', '--config', 'tools/train/configs/tiny.json', '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
    });
    assert.equal(r.status, 0, `training tool failed:\n${r.stdout}\n${r.stderr}`);
    const tiny = json(join(ROOT, 'tools/train/configs/tiny.json'));
    const m = tiny.model;
    const dir = join(out, tiny.name);

    // Model: HF Llama config and tensor names/shapes.
    const cfg = json(join(dir, 'config.json'));
    assert.deepEqual(cfg.architectures, ['LlamaForCausalLM']);
    assert.equal(cfg.model_type, 'llama');
    assert.equal(cfg.hidden_size, m.d_model);
    assert.equal(cfg.num_hidden_layers, m.n_layers);
    const V = cfg.vocab_size;
    const w = shapes(join(dir, 'model.safetensors'));
    assert.deepEqual(w['model.embed_tokens.weight'], [V, m.d_model]);
    assert.deepEqual(w['lm_head.weight'], [V, m.d_model]);
    assert.deepEqual(w['model.norm.weight'], [m.d_model]);
    for (let l = 0; l < m.n_layers; l++) {
      const p = `model.layers.${l}.`;
      for (const n of ['q', 'k', 'v', 'o']) assert.deepEqual(w[`${p}self_attn.${n}_proj.weight`], [m.d_model, m.d_model]);
      assert.deepEqual(w[`${p}mlp.gate_proj.weight`], [m.d_mlp, m.d_model]);
      assert.deepEqual(w[`${p}mlp.up_proj.weight`], [m.d_mlp, m.d_model]);
      assert.deepEqual(w[`${p}mlp.down_proj.weight`], [m.d_model, m.d_mlp]);
      assert.deepEqual(w[`${p}input_layernorm.weight`], [m.d_model]);
      assert.deepEqual(w[`${p}post_attention_layernorm.weight`], [m.d_model]);
    }
    assert.equal(Object.keys(w).length, 3 + 9 * m.n_layers, `unexpected tensors: ${Object.keys(w).join(', ')}`);

    // Ground truth: every prompt's answer is one known word, and the JS tokenizer gives BOS + one id per word.
    const tok = loadTokenizer(dir);
    const vocab: Record<string, number> = json(join(dir, 'tokenizer.json')).model.vocab;
    assert.equal(cfg.bos_token_id, vocab['<bos>']);
    let prompts = 0;
    for (const task of TASKS) {
      const lines = readFileSync(join(out, 'ground_truth', `${task}.jsonl`), 'utf8').trim().split('\n');
      assert.ok(lines.length > 0, task);
      for (const line of lines) {
        const g = JSON.parse(line);
        assert.equal(g.task, task);
        assert.ok(g.answer in vocab, `${task}: answer ${g.answer} not in vocabulary`);
        assert.ok(Array.isArray(g.path) && g.path.length >= 2 && typeof g.held_out_composition === 'boolean');
        const ids = tok.encode(g.prompt).map((t) => t.id);
        assert.deepEqual(ids, [cfg.bos_token_id, ...g.prompt.split(' ').map((x: string) => vocab[x])], g.prompt);
        prompts++;
      }
    }

    // Transcoders (circuit-tracer layout).
    const dT = tiny.dicts.transcoder.d_features;
    const tc = parseYaml(readFileSync(join(dir, 'transcoders', 'config.yaml'), 'utf8'));
    assert.equal(tc.model_kind, 'transcoder_set');
    assert.equal(tc.feature_input_hook, 'ln2.hook_normalized');
    assert.equal(tc.feature_output_hook, 'hook_mlp_out');
    assert.equal(tc.transcoders.length, m.n_layers);
    for (const e of tc.transcoders) {
      const s = shapes(join(dir, 'transcoders', e.filepath));
      assert.deepEqual(s, {
        W_enc: [dT, m.d_model], W_dec: [dT, m.d_model], b_enc: [dT], b_dec: [m.d_model], 'activation_function.threshold': [dT],
      });
    }
    // Cross-layer transcoder.
    const dC = tiny.dicts.clt.d_features;
    const clt = parseYaml(readFileSync(join(dir, 'clt', 'config.yaml'), 'utf8'));
    assert.equal(clt.model_kind, 'cross_layer_transcoder');
    assert.equal(clt.n_layers, m.n_layers);
    assert.equal(clt.d_transcoder, dC);
    for (let i = 0; i < m.n_layers; i++) {
      assert.deepEqual(shapes(join(dir, 'clt', `W_enc_${i}.safetensors`)), {
        [`W_enc_${i}`]: [dC, m.d_model], [`b_enc_${i}`]: [dC], [`b_dec_${i}`]: [m.d_model], [`threshold_${i}`]: [dC],
      });
      assert.deepEqual(shapes(join(dir, 'clt', `W_dec_${i}.safetensors`)), { [`W_dec_${i}`]: [dC, m.n_layers - i, m.d_model] });
    }
    // SAE (SAELens layout).
    const saeDir = readdirSync(dir).find((n) => n.startsWith('sae-resid-post-'));
    assert.ok(saeDir, 'no SAE folder');
    const sl = Number(saeDir.slice('sae-resid-post-'.length));
    const saeCfg = json(join(dir, saeDir, 'cfg.json'));
    assert.equal(saeCfg.hook_name, `blocks.${sl}.hook_resid_post`);
    assert.equal(saeCfg.architecture, 'jumprelu');
    const dS = tiny.dicts.sae.d_features;
    assert.deepEqual(shapes(join(dir, saeDir, 'sae_weights.safetensors')), {
      W_enc: [m.d_model, dS], W_dec: [dS, m.d_model], b_enc: [dS], b_dec: [m.d_model], threshold: [dS],
    });

    // Feature files: one object per feature in Neuronpedia's shape; labels name a latent of the language.
    const featureFiles: [string, number, number][] = [];
    for (let l = 0; l < m.n_layers; l++) {
      featureFiles.push([join(dir, 'transcoders', 'features', `layer_${l}.json`), l, dT]);
      featureFiles.push([join(dir, 'clt', 'features', `layer_${l}.json`), l, dC]);
    }
    featureFiles.push([join(dir, saeDir, 'features', `layer_${sl}.json`), sl, dS]);
    for (const [path, layer, n] of featureFiles) {
      const feats = json(path);
      assert.equal(feats.length, n, path);
      feats.forEach((f: any, i: number) => {
        assert.equal(f.layer, layer);
        assert.equal(f.index, i);
        assert.equal(typeof f.explanations[0].description, 'string');
        assert.ok(f.frac_nonzero >= 0 && f.frac_nonzero <= 1);
        assert.equal(f.pos_str.length, f.pos_values.length);
        // Ranked by the standardised effect (pos_z, best first); pos_values are the raw effects.
        assert.equal(f.pos_z.length, f.pos_str.length);
        assert.ok(f.pos_z.every((z: number, j: number) => j === 0 || z <= f.pos_z[j - 1]));
        assert.ok(f.neg_z.every((z: number, j: number) => j === 0 || z >= f.neg_z[j - 1]));
        assert.ok(f.label_f1 >= 0 && f.label_f1 <= 1 && f.label_precision >= 0 && f.label_precision <= 1 && f.label_recall >= 0 && f.label_recall <= 1);
        assert.ok(f.pos_str.every((t: string) => t in vocab) && f.neg_str.every((t: string) => t in vocab));
        if (f.frac_nonzero === 0) {
          assert.equal(f.latent, null);
          assert.equal(f.explanations[0].description, '');
        } else {
          assert.match(f.latent, /^[a-z_]+(:.+)?$/);
          assert.ok(f.activations.length > 0);
          for (const ex of f.activations) {
            assert.equal(ex.tokens.length, ex.values.length);
            assert.equal(Math.max(...ex.values), ex.maxValue);
          }
        }
      });
    }

    // Report: accuracy per task over exactly the ground-truth prompts; per-layer metrics per dictionary.
    const rep = json(join(dir, 'REPORT.json'));
    let n = 0;
    for (const task of TASKS) {
      const a = rep.accuracy[task];
      assert.ok(a.accuracy >= 0 && a.accuracy <= 1);
      assert.equal(a.correct, Math.round(a.accuracy * a.n));
      n += a.n;
    }
    assert.equal(n, prompts);
    for (const k of ['transcoders', 'clt']) {
      const d = rep.dictionaries[k];
      assert.equal(d.fvu.length, m.n_layers);
      assert.equal(d.l0.length, m.n_layers);
      assert.ok(d.fvu.every((x: number) => Number.isFinite(x) && x >= 0));
      assert.ok(Number.isFinite(d.loss_clean) && Number.isFinite(d.loss_spliced));
    }
    assert.ok(existsSync(join(dir, 'REPORT.md')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
