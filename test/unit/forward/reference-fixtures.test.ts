/**
 * The reference and the fixtures themselves, without the engine: each architecture feature a fixture
 * carries must move the reference's logits far past the comparison tolerance (else an engine that left
 * it out would still pass tools/reference's comparison in reference.test.ts), and every hook must be
 * finite, of the documented shape, with causal attention rows that sum to one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { HookTensor } from '../../../src/engine/api';
import {
  CASES, FIXTURES, TOKENIZER_CASES, TOL, maxAbs, readF32Safetensors, runReference, torchMissing, vocabIds, type Job,
} from './reference-helpers';

const missing = torchMissing();

// The fixtures' tokenizer.json files are written by hand; the tokenizer library the engine uses must
// load them and produce the tokens derived by hand from their merges (the engine's own tokenizer is
// checked against the same ids in reference.test.ts).
describe('fixture tokenizers load in @huggingface/tokenizers and encode as derived by hand', () => {
  for (const c of [...CASES, ...TOKENIZER_CASES]) {
    test(`${c.model}: ${JSON.stringify(c.prompt)}`, () => {
      const dir = join(FIXTURES, c.model);
      const tok = new Tokenizer(
        JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
        JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
      );
      const enc = tok.encode(c.prompt);
      assert.deepEqual(enc.tokens, c.tokens);
      assert.deepEqual(enc.ids, vocabIds(c.model, c.tokens));
      // Decoding gives the prompt back (the inserted BOS aside; special tokens typed in the prompt kept).
      assert.equal(tok.decode(enc.ids, { skip_special_tokens: !c.prompt.includes('<|') }), c.prompt);
    });
  }
});

/**
 * The fixtures are only worth something if each feature they carry changes the outputs: here the
 * reference itself runs with one feature turned off (through a config override) and the watched tensor
 * (the logits unless said otherwise) must move by more than 3× the tolerance allowed in
 * reference.test.ts. An engine that ignored that feature would then fail that comparison. Most
 * features move the logits by 0.3–4 (1000× the tolerance); the closest call is GPT-2's gelu_new against
 * erf-GELU, whose difference is at most ~5e-4 per activation and reaches ~6× the tolerance in layer 1's
 * MLP output.
 */
describe('each fixture feature moves the logits past the tolerance', { skip: missing }, () => {
  const features: { model: string; feature: string; override: Record<string, unknown>; hook?: string }[] = [
    { model: 'gemma2-tiny', feature: 'attention soft-capping', override: { attn_logit_softcapping: null } },
    { model: 'gemma2-tiny', feature: 'final logit soft-capping', override: { final_logit_softcapping: null } },
    { model: 'gemma2-tiny', feature: 'sliding window', override: { sliding_window: null } },
    { model: 'gemma2-tiny', feature: 'query_pre_attn_scalar (vs head_dim)', override: { query_pre_attn_scalar: 16 } },
    { model: 'llama-tiny', feature: 'llama3 rope scaling', override: { rope_scaling: null } },
    {
      model: 'llama-tiny', feature: 'llama3 smoothed band',
      // Same factor, but original_max_position_embeddings moves every band: the smoothed one too.
      override: { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } },
    },
    { model: 'llama-tiny', feature: 'rope_theta', override: { rope_theta: 10000 } },
    { model: 'llama-tiny-hf5', feature: 'rope_parameters (transformers 5 config format)', override: { rope_parameters: null } },
    { model: 'qwen3-tiny', feature: 'rope_theta', override: { rope_theta: 10000 } },
    { model: 'gpt2-tiny', feature: 'gelu_new (vs erf gelu)', override: { activation_function: 'gelu' }, hook: 'blocks.1.hook_mlp_out' },
  ];
  let dir = '';
  const outs = new Map<string, Map<string, HookTensor>>();

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ci-ref-sens-'));
    const jobs: Job[] = [];
    for (const c of CASES) jobs.push({ model: join(FIXTURES, c.model), ids: vocabIds(c.model, c.tokens), out: join(dir, `${c.model}.safetensors`) });
    features.forEach((f, i) => {
      const c = CASES.find((x) => x.model === f.model)!;
      jobs.push({ model: join(FIXTURES, f.model), ids: vocabIds(c.model, c.tokens), out: join(dir, `f${i}.safetensors`), config_override: f.override });
    });
    runReference(dir, jobs);
    for (const j of jobs) outs.set(j.out, readF32Safetensors(j.out));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  features.forEach((f, i) => {
    test(`${f.model}: ${f.feature}`, () => {
      const hook = f.hook ?? 'logits';
      const base = outs.get(join(dir, `${f.model}.safetensors`))!.get(hook)!.data;
      const off = outs.get(join(dir, `f${i}.safetensors`))!.get(hook)!.data;
      let moved = 0;
      for (let k = 0; k < base.length; k++) moved = Math.max(moved, Math.abs(base[k] - off[k]));
      const allowed = TOL * Math.max(1, maxAbs(base));
      assert.ok(moved > 3 * allowed, `turning off ${f.feature} moved ${hook} by only ${moved} (tolerance ${allowed})`);
    });
  });

  test('every hook of every fixture is finite and of the documented shape', () => {
    for (const c of CASES) {
      const ref = outs.get(join(dir, `${c.model}.safetensors`))!;
      const cfg = JSON.parse(readFileSync(join(FIXTURES, c.model, 'config.json'), 'utf8')) as Record<string, number>;
      const T = c.tokens.length;
      const L = cfg.n_layer ?? cfg.num_hidden_layers;
      const d = cfg.n_embd ?? cfg.hidden_size;
      const H = cfg.n_head ?? cfg.num_attention_heads;
      assert.deepEqual(ref.get('logits')!.shape, [T, cfg.vocab_size]);
      assert.deepEqual(ref.get('ln_final.hook_scale')!.shape, [T]);
      for (let l = 0; l < L; l++) {
        assert.deepEqual(ref.get(`blocks.${l}.hook_resid_post`)!.shape, [T, d]);
        assert.deepEqual(ref.get(`blocks.${l}.attn.hook_pattern`)!.shape, [H, T, T]);
        // Patterns are causal rows summing to one.
        const p = ref.get(`blocks.${l}.attn.hook_pattern`)!.data;
        for (let h = 0; h < H; h++) {
          for (let q = 0; q < T; q++) {
            let s = 0;
            for (let k = 0; k < T; k++) {
              const v = p[(h * T + q) * T + k];
              if (k > q) assert.equal(v, 0, `${c.model} layer ${l} head ${h}: attends to the future`);
              s += v;
            }
            assert.ok(Math.abs(s - 1) < 1e-5, `${c.model} pattern row sums to ${s}`);
          }
        }
      }
      for (const [name, t] of ref) for (const v of t.data) assert.ok(Number.isFinite(v), `${c.model} ${name} not finite`);
    }
  });
});
