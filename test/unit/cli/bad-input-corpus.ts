/**
 * A generated, seeded corpus of bad inputs for the CLI and the file readers: broken model folders
 * (config.json, safetensors, tokenizer), dictionaries (config.yaml, weights, npz archives, labels),
 * prompts, command-line flags, output paths and graph files. Each case says what a good refusal must
 * name (`expect`, matched against stderr); a case with `ok` must succeed instead (unusual but valid
 * input). bad-input.test.ts runs them and prints one summary line.
 *
 * Everything is built from the small test fixtures in a temporary folder; the seed fixes every random
 * choice, so a failure reproduces.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { zipSync } from 'fflate';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../../src/engine/bundle/safetensors';

export const ROOT = resolve(__dirname, '..', '..', '..');
const MODEL = join(ROOT, 'test', 'fixtures', 'models', 'llama-tiny');
const TRANSCODERS = join(ROOT, 'test', 'fixtures', 'transcoders', 'llama-tiny');
const GRAPH = join(ROOT, 'test', 'fixtures', 'graphs', 'circuit-tracer-sample.json');

export type Runner = 'cli' | 'graph' | 'process';

export interface BadCase {
  category: string;
  name: string;
  runner: Runner;
  /** The command line (cli, process) or the graph file path (graph: argv[0]). */
  argv: string[];
  /** What stderr (or the thrown message) must match: the refusal names the problem. */
  expect?: RegExp;
  /** The input is odd but valid: it must succeed, and stdout must match when a RegExp is given. */
  ok?: true | RegExp;
  /** Either outcome is right: accepted, or refused naming `expect`. */
  either?: true;
}

/** mulberry32: a small seeded PRNG, so the corpus is the same on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INHERITED = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

export function buildCorpus(tmp: string, seed = 17): BadCase[] {
  const rand = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const cases: BadCase[] = [];
  let n = 0;
  const folder = (what: string): string => {
    const d = join(tmp, `${String(n++).padStart(3, '0')}-${what.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const model = (what: string, edit?: (dir: string) => void): string => {
    const d = folder(what);
    cpSync(MODEL, d, { recursive: true });
    cpSync(TRANSCODERS, join(d, 'transcoders'), { recursive: true });
    edit?.(d);
    return d;
  };
  const config = (dir: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const writeConfig = (dir: string, c: unknown) => writeFileSync(join(dir, 'config.json'), typeof c === 'string' ? c : JSON.stringify(c));
  const fwd = (dir: string, ...more: string[]) => ['forward', '--model', dir, '--prompt', 'the cat', '--threads', '1', ...more];
  const add = (c: BadCase) => cases.push(c);

  // ---------------------------------------------------------------- config.json
  const fields: [string, RegExp][] = [
    ['hidden_size', /hidden_size/], ['num_hidden_layers', /num_hidden_layers/], ['num_attention_heads', /num_attention_heads/],
    ['num_key_value_heads', /num_key_value_heads/], ['vocab_size', /vocab_size/], ['intermediate_size', /intermediate_size/],
    ['head_dim', /head_dim/], ['max_position_embeddings', /max_position_embeddings/],
  ];
  const badValues: [string, unknown][] = [
    ['zero', 0], ['negative', -4], ['fraction', 2.5], ['string', '48'], ['array', [48]], ['object', { v: 48 }], ['true', true], ['huge', 1e308],
  ];
  for (const [field, re] of fields) {
    for (const [vname, v] of badValues) {
      // Every field gets a few values (the seed picks which), 3 per field.
      if (rand() < 0.62) continue;
      const d = model(`cfg-${field}-${vname}`, (dir) => writeConfig(dir, { ...config(dir), [field]: v }));
      add({ category: 'config', name: `${field} = ${JSON.stringify(v)}`, runner: 'cli', argv: fwd(d), expect: re });
    }
    const d = model(`cfg-${field}-missing`, (dir) => {
      const c = config(dir);
      delete c[field];
      writeConfig(dir, c);
    });
    // head_dim and max_position_embeddings have defaults that fit this checkpoint: missing is fine
    // there; num_key_value_heads defaults to the head count, which this grouped-query model is not.
    if (field === 'num_key_value_heads') add({ category: 'config', name: `${field} missing (default does not fit)`, runner: 'cli', argv: fwd(d), expect: /k_proj\.weight.*shape/ });
    else if (['head_dim', 'max_position_embeddings'].includes(field)) add({ category: 'config', name: `${field} missing (has a default)`, runner: 'cli', argv: fwd(d), ok: true });
    else add({ category: 'config', name: `${field} missing`, runner: 'cli', argv: fwd(d), expect: re });
  }
  for (const [field, v] of [['rms_norm_eps', 0], ['rms_norm_eps', -1e-5], ['rms_norm_eps', 'tiny'], ['rope_theta', 0], ['rope_theta', -10000], ['rope_theta', null]] as [string, unknown][]) {
    const d = model(`cfg-${field}`, (dir) => writeConfig(dir, { ...config(dir), [field]: v }));
    if (v === null) add({ category: 'config', name: `${field} null (default)`, runner: 'cli', argv: fwd(d), ok: true });
    else add({ category: 'config', name: `${field} = ${JSON.stringify(v)}`, runner: 'cli', argv: fwd(d), expect: new RegExp(field) });
  }
  for (const [k, v] of [['factor', 0], ['factor', -8], ['low_freq_factor', 0], ['high_freq_factor', 1], ['original_max_position_embeddings', 0], ['rope_type', 'constructor'], ['rope_type', 'yarn']] as [string, unknown][]) {
    const d = model(`rope-${k}-${v}`, (dir) => {
      const c = config(dir);
      writeConfig(dir, { ...c, rope_scaling: { ...(c.rope_scaling as object), [k]: v } });
    });
    add({ category: 'config', name: `rope_scaling.${k} = ${JSON.stringify(v)}`, runner: 'cli', argv: fwd(d), expect: k === 'rope_type' ? /rope scaling type/ : k === 'high_freq_factor' ? /high_freq_factor/ : new RegExp(k) });
  }
  for (const v of [...INHERITED, '', 42, 'bert', null]) {
    const d = model(`mt-${String(v)}`, (dir) => {
      const c = config(dir);
      c.model_type = v;
      c.architectures = [];
      writeConfig(dir, c);
    });
    add({ category: 'inherited keys', name: `model_type ${JSON.stringify(v)}`, runner: 'cli', argv: fwd(d), expect: /model_type|supported model types/ });
  }
  for (const v of [['constructor'], ['__proto__'], 'LlamaForCausalLM', [42], [{}]]) {
    const d = model(`arch-${JSON.stringify(v)}`, (dir) => {
      const c = config(dir);
      delete c.model_type;
      c.architectures = v;
      writeConfig(dir, c);
    });
    add({ category: 'inherited keys', name: `architectures ${JSON.stringify(v)}`, runner: 'cli', argv: fwd(d), expect: /supported model types/ });
  }
  for (const v of [...INHERITED, 42, 'tanh', '']) {
    const d = model(`act-${String(v)}`, (dir) => writeConfig(dir, { ...config(dir), hidden_act: v }));
    add({ category: 'inherited keys', name: `hidden_act ${JSON.stringify(v)}`, runner: 'cli', argv: fwd(d), expect: /activation/ });
  }
  for (const key of INHERITED) {
    // An inherited name as a key with a harmless value: must be ignored, not used.
    const d = model(`key-${key}`, (dir) => writeFileSync(join(dir, 'config.json'), JSON.stringify(config(dir)).replace(/^\{/, `{"${key}": {"model_type": "gpt2"},`)));
    add({ category: 'inherited keys', name: `config key ${key}`, runner: 'cli', argv: fwd(d), ok: true });
  }
  const rawConfigs: [string, string, RegExp][] = [
    ['empty', '', /not valid JSON/], ['not JSON', '{model_type: llama', /not valid JSON/], ['array', '[1,2]', /not a JSON object/], ['null', 'null', /not a JSON object/],
    ['string', '"llama"', /not a JSON object/], ['nested 20000 deep', `${'['.repeat(20000)}${']'.repeat(20000)}`, /levels deep/],
    ['object nested 20000 deep', `{"model_type":"llama","x":${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}}`, /levels deep/],
    ['BOM and garbage', '\ufeff\u0000\u0001', /not valid JSON/], ['truncated', JSON.stringify(JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'))).slice(0, 100), /not valid JSON/],
  ];
  for (const [what, text, re] of rawConfigs) {
    const d = model(`raw-${what}`, (dir) => writeConfig(dir, text));
    add({ category: 'config', name: `config.json ${what}`, runner: 'cli', argv: fwd(d), expect: re });
  }
  {
    const d = model('cfg-missing', (dir) => rmSync(join(dir, 'config.json')));
    add({ category: 'model folder', name: 'no config.json', runner: 'cli', argv: fwd(d), expect: /No config\.json/ });
    const d2 = model('cfg-dir', (dir) => {
      rmSync(join(dir, 'config.json'));
      mkdirSync(join(dir, 'config.json'));
    });
    add({ category: 'file system', name: 'config.json is a folder', runner: 'cli', argv: fwd(d2), expect: /config\.json .*is a folder/ });
    const d3 = model('cfg-link', (dir) => {
      rmSync(join(dir, 'config.json'));
      symlinkSync(join(dir, 'nowhere.json'), join(dir, 'config.json'));
    });
    add({ category: 'file system', name: 'config.json a dangling link', runner: 'cli', argv: fwd(d3), expect: /config\.json/ });
  }
  // A harmless but odd value that must stay data: a name with escape sequences is printed escaped.
  {
    const d = model('name-escapes', (dir) => writeConfig(dir, { ...config(dir), _name_or_path: 'evil\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202e' }));
    add({ category: 'terminal', name: 'model name with escape sequences', runner: 'cli', argv: fwd(d), ok: /evil\\u001b\]0;pwned\\u0007\\u001b\[2J\\u009b31m\\u202e/ });
    add({ category: 'terminal', name: 'model name with escape sequences (--json)', runner: 'cli', argv: fwd(d, '--json'), ok: /"name": "evil\\u001b\]0;pwned\\u0007/ });
  }

  // ---------------------------------------------------------------- safetensors
  const weights = SafetensorsFile.open(join(MODEL, 'model.safetensors'));
  const tensors = (): Record<string, TensorToWrite> => {
    const out: Record<string, TensorToWrite> = {};
    for (const [name, info] of weights.tensors) out[name] = { dtype: 'F32', shape: info.shape, data: weights.readF32(name) };
    return out;
  };
  const poison = ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.1.mlp.down_proj.weight', 'model.layers.2.input_layernorm.weight'];
  for (const name of poison) {
    for (const v of [NaN, Infinity]) {
      if (rand() < 0.34) continue;
      const d = model(`w-${name}-${v}`, (dir) => {
        const t = tensors();
        // The whole tensor: one bad row of an embedding the prompt never uses would (rightly) go unseen.
        (t[name].data as Float32Array).fill(v);
        writeSafetensors(join(dir, 'model.safetensors'), t);
      });
      add({ category: 'NaN/Inf', name: `${v} in ${name}`, runner: 'cli', argv: fwd(d), expect: new RegExp(`${name.replace(/\./g, '\\.')}.*NaN or infinite`) });
    }
  }
  const header = (mut: (h: Record<string, unknown>) => void): Buffer => {
    const buf = readFileSync(join(MODEL, 'model.safetensors'));
    const len = Number(buf.readBigUInt64LE(0));
    const h = JSON.parse(buf.subarray(8, 8 + len).toString('utf8'));
    mut(h);
    let json = JSON.stringify(h);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const lb = Buffer.alloc(8);
    lb.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    return Buffer.concat([lb, Buffer.from(json), buf.subarray(8 + len)]);
  };
  const anyTensor = () => pick([...weights.tensors.keys()]);
  const stCases: [string, () => Buffer, RegExp][] = [
    ['empty file', () => Buffer.alloc(0), /shorter than the 8-byte header/],
    ['7 bytes', () => Buffer.alloc(7), /shorter than the 8-byte header/],
    ['header length 2^63', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1n << 63n); return b; }, /header claims/],
    ['header longer than file', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n); return b; }, /header claims/],
    ['header not JSON', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(8n); b.write('{{{{{{{{', 8); return b; }, /header is not JSON/],
    ['header array', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(8n); b.write('[1]     ', 8); return b; }, /not a JSON object/],
    ['header nested deep', () => { const j = `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`; const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(j.length)); return Buffer.concat([b, Buffer.from(j)]); }, /header is not JSON.*levels deep/],
    ['truncated data', () => readFileSync(join(MODEL, 'model.safetensors')).subarray(0, 5000), /truncated|ends at byte/],
  ];
  for (const dtype of [...INHERITED, 'F8_E4M3', 'I4', 42]) {
    stCases.push([`dtype ${JSON.stringify(dtype)}`, () => header((h) => { (h[anyTensor()] as Record<string, unknown>).dtype = dtype; }), /dtype/]);
  }
  for (const [what, shape] of [['negative dim', [-1, 48]], ['fractional dim', [1.5, 48]], ['string shape', '48'], ['huge shape', [2 ** 40, 2 ** 40]]] as [string, unknown][]) {
    stCases.push([`shape ${what}`, () => header((h) => { (h[anyTensor()] as Record<string, unknown>).shape = shape; }), /shape|spans/]);
  }
  for (const [what, offs] of [['reversed', [100, 0]], ['beyond the file', [0, 1e12]], ['one number', [0]], ['strings', ['0', '4']], ['negative', [-4, 0]]] as [string, unknown][]) {
    stCases.push([`data_offsets ${what}`, () => header((h) => { (h[anyTensor()] as Record<string, unknown>).data_offsets = offs; }), /data_offsets|spans|ends at byte/]);
  }
  stCases.push(['overlapping byte ranges', () => header((h) => {
    const names = Object.keys(h).filter((k) => k !== '__metadata__');
    const a = h[names[0]] as { data_offsets: number[]; dtype: string; shape: number[] };
    const b = h[names[1]] as { data_offsets: number[]; dtype: string; shape: number[] };
    // b gets a's bytes (same size): two tensors over one range.
    const bytes = b.data_offsets[1] - b.data_offsets[0];
    b.data_offsets = [a.data_offsets[0], a.data_offsets[0] + bytes];
  }), /overlap/]);
  stCases.push(['entry not an object', () => header((h) => { h[anyTensor()] = 7; }), /is not an object/]);
  stCases.push(['__metadata__ with __proto__', () => header((h) => { h.__metadata__ = JSON.parse('{"__proto__": {"polluted": "yes"}, "format": "pt"}'); }), /.*/]);
  for (const [what, mk, re] of stCases) {
    const d = model(`st-${what}`, (dir) => writeFileSync(join(dir, 'model.safetensors'), mk()));
    const c: BadCase = { category: 'safetensors', name: what, runner: 'cli', argv: fwd(d), expect: re };
    if (what === '__metadata__ with __proto__') {
      delete c.expect;
      c.ok = true;
    }
    add(c);
  }
  {
    const missing = anyTensor();
    const d = model('st-missing-tensor', (dir) => {
      const t = tensors();
      delete t[missing];
      writeSafetensors(join(dir, 'model.safetensors'), t);
    });
    add({ category: 'safetensors', name: `tensor ${missing} missing`, runner: 'cli', argv: fwd(d), expect: new RegExp(`${missing.replace(/\./g, '\\.')}.*missing`) });
    const d2 = model('st-dir', (dir) => {
      rmSync(join(dir, 'model.safetensors'));
      mkdirSync(join(dir, 'model.safetensors'));
    });
    add({ category: 'file system', name: 'model.safetensors is a folder', runner: 'cli', argv: fwd(d2), expect: /model\.safetensors is a folder/ });
    const d3 = model('st-none', (dir) => rmSync(join(dir, 'model.safetensors')));
    add({ category: 'model folder', name: 'no weights', runner: 'cli', argv: fwd(d3), expect: /No weights/ });
  }
  const shardNames: [string, unknown, RegExp][] = [
    ['empty shard name', '', /invalid shard path/], ['shard "."', '.', /invalid shard path/], ['shard ".."', '..', /invalid shard path/],
    ['shard outside', '../llama-tiny/model.safetensors', /invalid shard path/], ['absolute shard', '/etc/passwd', /invalid shard path/],
    ['numeric shard', 7, /invalid shard path/], ['missing shard', 'model-00002-of-00002.safetensors', /missing/], ['shard a folder', 'sub', /is a folder/],
  ];
  for (const [what, shard, re] of shardNames) {
    const d = model(`idx-${what}`, (dir) => {
      const map: Record<string, unknown> = {};
      for (const k of weights.tensors.keys()) map[k] = 'model.safetensors';
      map[anyTensor()] = shard;
      mkdirSync(join(dir, 'sub'));
      writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: map }));
    });
    add({ category: 'safetensors', name: `index: ${what}`, runner: 'cli', argv: fwd(d), expect: re });
  }
  for (const [what, text, re] of [['not JSON', '{', /not valid JSON/], ['no weight_map', '{}', /weight_map/], ['weight_map array', '{"weight_map": []}', /weight_map/], ['weight_map inherited', '{"__proto__": {"weight_map": {}}}', /weight_map/]] as [string, string, RegExp][]) {
    const d = model(`idx-raw-${what}`, (dir) => writeFileSync(join(dir, 'model.safetensors.index.json'), text));
    add({ category: 'safetensors', name: `index ${what}`, runner: 'cli', argv: fwd(d), expect: re });
  }

  // ---------------------------------------------------------------- tokenizer
  const tokJson = (): Record<string, unknown> => JSON.parse(readFileSync(join(MODEL, 'tokenizer.json'), 'utf8'));
  const tokCases: [string, (dir: string) => void, RegExp | undefined][] = [
    ['missing', (dir) => rmSync(join(dir, 'tokenizer.json')), /No tokenizer\.json/],
    ['not JSON', (dir) => writeFileSync(join(dir, 'tokenizer.json'), '{"model":'), /tokenizer\.json.*not valid JSON/],
    ['array', (dir) => writeFileSync(join(dir, 'tokenizer.json'), '[]'), /tokenizer\.json.*not a JSON object/],
    ['a folder', (dir) => { rmSync(join(dir, 'tokenizer.json')); mkdirSync(join(dir, 'tokenizer.json')); }, /tokenizer\.json .*is a folder/],
    ['nested 20000 deep', (dir) => writeFileSync(join(dir, 'tokenizer.json'), `{"model":${'['.repeat(20000)}${']'.repeat(20000)}}`), /levels deep/],
    ['bad tokenizer_config.json', (dir) => writeFileSync(join(dir, 'tokenizer_config.json'), '{bos'), /tokenizer_config\.json.*not valid JSON/],
    ['tokenizer_config.json array', (dir) => writeFileSync(join(dir, 'tokenizer_config.json'), '[1]'), /tokenizer_config\.json.*not a JSON object/],
    ['model type unknown', (dir) => writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ ...tokJson(), model: { type: 'constructor' } })), /tokenizer\.json/],
    ['model null', (dir) => writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ ...tokJson(), model: null })), /tokenizer\.json/],
    ['ids beyond the model', (dir) => {
      const t = tokJson();
      (t.model as { vocab: Record<string, number> }).vocab.zzzz = 5000;
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(t));
    }, /ids up to 5000/],
  ];
  for (const pattern of ['(a+)+$', '(a*)*b', '(?:\\s+)+x', '((ab)+)+', '(a|b+)*c', '(x+x+)+y', 'a'.repeat(5000)]) {
    tokCases.push([`Split pattern ${pattern.slice(0, 20)}`, (dir) => {
      const t = tokJson();
      t.pre_tokenizer = { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false };
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(t));
    }, /pattern/]);
  }
  for (const [what, edit, re] of tokCases) {
    const d = model(`tok-${what}`, edit);
    add({ category: 'tokenizer', name: what, runner: 'cli', argv: [...fwd(d).slice(0, 3), '--prompt', `${'a'.repeat(40)}!`, '--threads', '1'], expect: re });
  }
  // WordLevel tokenizers: without tokenizer_config.json the model's own unk_token is used.
  const toy = join(ROOT, 'models', 'toy-llama');
  const wl = (what: string, edit: (dir: string) => void) => {
    const d = folder(what);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) cpSync(join(toy, f), join(d, f));
    edit(d);
    return d;
  };
  {
    const d = wl('wordlevel-no-config', (dir) => rmSync(join(dir, 'tokenizer_config.json')));
    add({ category: 'tokenizer', name: 'WordLevel without tokenizer_config.json, unknown word', runner: 'cli', argv: ['forward', '--model', d, '--prompt', 'the zebraword is', '--threads', '1'], ok: /<unk>/ });
    const d2 = wl('wordlevel-empty-vocab', (dir) => {
      const t = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
      t.model.vocab = {};
      t.added_tokens = [];
      t.post_processor = null;
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(t));
      rmSync(join(dir, 'tokenizer_config.json'));
    });
    add({ category: 'tokenizer', name: 'WordLevel with an empty vocabulary', runner: 'cli', argv: ['forward', '--model', d2, '--prompt', 'the cat', '--threads', '1'], expect: /empty vocabulary|unk|tokenizer/ });
    const d3 = wl('wordlevel-unk-missing', (dir) => {
      const t = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
      t.model.unk_token = 'constructor';
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(t));
      rmSync(join(dir, 'tokenizer_config.json'));
    });
    add({ category: 'tokenizer', name: 'WordLevel unk_token "constructor" not in vocabulary', runner: 'cli', argv: ['forward', '--model', d3, '--prompt', 'the zebraword', '--threads', '1'], expect: /unknown|constructor|tokenizer/i });
  }

  // ---------------------------------------------------------------- dictionaries
  const dict = (what: string, edit: (dir: string) => void): string => {
    const d = folder(`dict-${what}`);
    cpSync(TRANSCODERS, d, { recursive: true });
    edit(d);
    return d;
  };
  const an = (d: string, ...more: string[]) => ['analyze', '--model', MODEL, '--transcoders', d, '--prompt', 'the cat sat', '--threads', '1', ...more];
  const yaml = readFileSync(join(TRANSCODERS, 'config.yaml'), 'utf8');
  const yamlCases: [string, string, RegExp][] = [
    ['not YAML', 'transcoders: [\n  - {', /not valid YAML/], ['a list', '- 1\n- 2\n', /not a mapping/], ['empty', '', /not a mapping|config/],
    ['absolute path', yaml.replace('"layer_1.safetensors"', '"/etc/passwd"'), /absolute path/],
    ['path with ..', yaml.replace('"layer_1.safetensors"', '"../layer_1.safetensors"'), /leaves the dictionary folder/],
    ['hf:// path', yaml.replace('"layer_1.safetensors"', '"hf://mntss/x/layer_1.safetensors"'), /Hugging Face URI/],
    ['missing file', yaml.replace('"layer_1.safetensors"', '"layer_9.safetensors"'), /does not exist/],
    ['alias bomb', `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n`, /YAML|alias|config/i],
    ['duplicate keys', `${yaml}\nmodel_name: "again"\n`, /not valid YAML/],
  ];
  for (const hook of [...INHERITED, 'blocks.0.hook_nonsense', '']) {
    yamlCases.push([`feature_input_hook ${JSON.stringify(hook)}`, yaml.replace('"hook_resid_mid"', JSON.stringify(hook)), /hook|feature_input_hook/]);
    if (rand() < 0.5) yamlCases.push([`feature_output_hook ${JSON.stringify(hook)}`, yaml.replace('"hook_mlp_out"', JSON.stringify(hook)), /hook|feature_output_hook/]);
  }
  for (const [what, text, re] of yamlCases) {
    const d = dict(what, (dir) => writeFileSync(join(dir, 'config.yaml'), text));
    add({ category: 'dictionary', name: `config.yaml ${what}`, runner: 'cli', argv: an(d), expect: re });
  }
  const layer = SafetensorsFile.open(join(TRANSCODERS, 'layer_0.safetensors'));
  // Decoder-side tensors: they reach the reconstruction.
  for (const tname of [...layer.tensors.keys()].filter((k) => !/enc|threshold/i.test(k))) {
    for (const v of [NaN, -Infinity]) {
      if (rand() < 0.4) continue;
      const d = dict(`nan-${tname}-${v}`, (dir) => {
        const out: Record<string, TensorToWrite> = {};
        for (const [name, info] of layer.tensors) out[name] = { dtype: 'F32', shape: info.shape, data: layer.readF32(name) };
        (out[tname].data as Float32Array).fill(v);
        writeSafetensors(join(dir, 'layer_0.safetensors'), out);
      });
      add({ category: 'NaN/Inf', name: `${v} in transcoder ${tname}`, runner: 'cli', argv: an(d), expect: new RegExp(`${tname}.*NaN or infinite|NaN or infinite`) });
    }
  }
  // Encoder-side tensors: a NaN there only makes features never fire, which no output shows; the
  // dictionary refuses them when it reads them, naming the tensor.
  for (const tname of [...layer.tensors.keys()].filter((k) => /enc|threshold/i.test(k))) {
    for (const v of [NaN, Infinity]) {
      const d = dict(`nan-enc-${tname}-${v}`, (dir) => {
        const out: Record<string, TensorToWrite> = {};
        for (const [name, info] of layer.tensors) out[name] = { dtype: 'F32', shape: info.shape, data: layer.readF32(name) };
        (out[tname].data as Float32Array)[7] = v;
        writeSafetensors(join(dir, 'layer_0.safetensors'), out);
      });
      add({ category: 'NaN/Inf', name: `one ${v} in transcoder ${tname}`, runner: 'cli', argv: an(d), expect: new RegExp(`${tname.replace(/\./g, '\\.')}.*NaN or infinite`) });
    }
  }
  {
    const d = dict('layer-truncated', (dir) => writeFileSync(join(dir, 'layer_1.safetensors'), readFileSync(join(TRANSCODERS, 'layer_1.safetensors')).subarray(0, 300)));
    add({ category: 'dictionary', name: 'layer file truncated', runner: 'cli', argv: an(d), expect: /layer_1\.safetensors/ });
    const d2 = dict('layer-dir', (dir) => { rmSync(join(dir, 'layer_2.safetensors')); mkdirSync(join(dir, 'layer_2.safetensors')); });
    add({ category: 'file system', name: 'layer file is a folder', runner: 'cli', argv: an(d2), expect: /layer_2\.safetensors/ });
    const d3 = folder('dict-empty');
    add({ category: 'dictionary', name: 'empty folder', runner: 'cli', argv: an(d3), expect: /holds no dictionary/ });
    add({ category: 'dictionary', name: 'dictionary of another model', runner: 'cli', argv: an(join(ROOT, 'test', 'fixtures', 'transcoders', 'gpt2-tiny')), expect: /d_model|layers|model/ });
    const d4 = dict('features-deep', (dir) => { mkdirSync(join(dir, 'features')); writeFileSync(join(dir, 'features', 'layer_0.json'), '['.repeat(30000) + ']'.repeat(30000)); });
    add({ category: 'dictionary', name: 'feature labels nested 30000 deep', runner: 'cli', argv: an(d4, '--node-threshold', '1'), expect: /levels deep/ });
    const d5 = dict('features-escapes', (dir) => {
      mkdirSync(join(dir, 'features'));
      const labels: Record<string, unknown> = {};
      for (let i = 0; i < 64; i++) labels[String(i)] = { label: `x\u001b[31mred\u001b]8;;http://evil\u0007link\u009b2J${i}` };
      for (const l of [0, 1, 2]) writeFileSync(join(dir, 'features', `layer_${l}.json`), JSON.stringify(labels));
    });
    add({ category: 'terminal', name: 'feature labels with escape sequences', runner: 'cli', argv: an(d5, '--paths', '20', '--node-threshold', '1'), ok: true });
  }
  // Gemma Scope npz archives.
  const npzDict = (what: string, files: Record<string, Uint8Array>, level = 0): string => {
    const d = folder(`npz-${what}`);
    for (const l of [0, 1, 2]) {
      const p = join(d, `layer_${l}`, 'width_16k', 'average_l0_10');
      mkdirSync(p, { recursive: true });
      writeFileSync(join(p, 'params.npz'), zipSync(files, { level: level as 0 }));
    }
    return d;
  };
  const npy = (shape: number[], descr = '<f4', fill = 0): Uint8Array => {
    const h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
    const pad = 64 - ((10 + h.length + 1) % 64);
    const head = Buffer.from(`\x93NUMPY\x01\x00`, 'latin1');
    const len = Buffer.alloc(2);
    len.writeUInt16LE(h.length + pad + 1);
    const data = new Float32Array(shape.reduce((a, s) => a * s, 1)).fill(fill);
    return Buffer.concat([head, len, Buffer.from(h + ' '.repeat(pad) + '\n', 'latin1'), Buffer.from(data.buffer)]);
  };
  {
    // 48 × 4096 × 4 B per array, zero-filled: compresses ~1000:1 — a bomb's signature at any size.
    const big = npy([48, 1 << 17]);
    add({ category: 'npz', name: 'zip bomb (compresses 1000:1)', runner: 'cli', argv: an(npzDict('bomb', { 'W_enc.npy': big, 'W_dec.npy': big, 'b_enc.npy': npy([1 << 17]), 'b_dec.npy': npy([48]), 'threshold.npy': npy([1 << 17]) }, 9)), expect: /compresses|uncompressed/ });
    add({ category: 'npz', name: 'not a zip', runner: 'cli', argv: an((() => { const d = npzDict('notzip', { 'x.npy': npy([1]) }); for (const l of [0, 1, 2]) writeFileSync(join(d, `layer_${l}`, 'width_16k', 'average_l0_10', 'params.npz'), 'PK\x03\x04garbage'); return d; })()), expect: /npz|zip/ });
    add({ category: 'npz', name: 'fortran order', runner: 'cli', argv: an(npzDict('fortran', { 'W_enc.npy': Buffer.from(Buffer.from(npy([48, 16])).toString('latin1').replace("'fortran_order': False", "'fortran_order': True "), 'latin1') })), expect: /Fortran/ });
    add({ category: 'npz', name: 'dtype toString', runner: 'cli', argv: an(npzDict('dtype', { 'W_enc.npy': Buffer.from(Buffer.from(npy([48, 16])).toString('latin1').replace("'<f4'", "'toString'"), 'latin1') })), expect: /dtype|descr/ });
    add({ category: 'npz', name: 'big-endian', runner: 'cli', argv: an(npzDict('be', { 'W_enc.npy': npy([48, 16], '>f4') })), expect: /dtype|descr/ });
  }

  // ---------------------------------------------------------------- prompts
  const promptDir = folder('prompts');
  const pf = (name: string, text: string | Buffer) => {
    const p = join(promptDir, name);
    writeFileSync(p, text);
    return p;
  };
  const an0 = (...more: string[]) => ['analyze', '--model', MODEL, '--transcoders', TRANSCODERS, '--threads', '1', ...more];
  add({ category: 'prompt', name: 'prompt file missing', runner: 'cli', argv: an0('--prompt-file', join(promptDir, 'nope.txt')), expect: /nope\.txt does not exist/ });
  add({ category: 'file system', name: 'prompt file is a folder', runner: 'cli', argv: an0('--prompt-file', promptDir), expect: /is a folder/ });
  add({ category: 'prompt', name: 'prompt file empty', runner: 'cli', argv: an0('--prompt-file', pf('empty.txt', '')), expect: /prompt is empty/ });
  add({ category: 'prompt', name: 'prompt file only whitespace', runner: 'cli', argv: an0('--prompt-file', pf('ws.txt', ' \n\t\n')), expect: /prompt is empty/ });
  add({ category: 'prompt', name: 'prompt file binary', runner: 'cli', argv: an0('--prompt-file', pf('bin.txt', Buffer.from(Array.from({ length: 16 }, () => Math.floor(rand() * 256))))), ok: true });
  add({ category: 'prompt', name: 'prompt file too long for the context', runner: 'cli', argv: an0('--prompt-file', pf('long.txt', 'the cat '.repeat(400))), expect: /accepts at most 64/ });
  add({ category: 'prompt', name: 'prompt --prompt-file ""', runner: 'cli', argv: an0('--prompt-file', ''), expect: /--prompt-file is empty/ });
  add({ category: 'prompt', name: 'one 100k-character word', runner: 'cli', argv: ['forward', '--model', MODEL, '--prompt', 'x'.repeat(100_000)], expect: /100000 characters long/ });
  add({ category: 'prompt', name: '15000 ids', runner: 'cli', argv: ['forward', '--model', MODEL, '--ids', Array(15000).fill('5').join(',')], expect: /15000 tokens long/ });
  add({ category: 'prompt', name: 'empty prompt', runner: 'cli', argv: ['forward', '--model', MODEL, '--prompt', ''], expect: /prompt is empty/ });
  add({ category: 'prompt', name: 'prompt of spaces', runner: 'cli', argv: ['forward', '--model', MODEL, '--prompt', '   '], expect: /prompt is empty/ });
  add({ category: 'terminal', name: 'prompt with escape sequences', runner: 'cli', argv: ['forward', '--model', MODEL, '--prompt', 'hi \u001b[2J\u001b]0;x\u0007 there\u009b', '--threads', '1'], ok: true });
  for (const ids of ['297', '99999999999', '1,2,-3', '1e3', '0x10', '1,,2,a', ',', ' ', '5.5']) {
    add({ category: 'prompt', name: `--ids ${JSON.stringify(ids)}`, runner: 'cli', argv: ['forward', '--model', MODEL, '--ids', ids], expect: /--ids|outside the model's vocabulary/ });
  }
  for (let i = 0; i < 6; i++) {
    const spec = pick(['', ':', '0:0:0', '0:0:0=', 'a:b:c=1', '9:0:0=1', '0:99:0=1', '0:0:99999=1', '0:0:0=x', '0:0:0=1e999', '0:0:0=NaN', '-1:0:0=1', '0:0:0=x1e400']);
    add({ category: 'flags', name: `intervene --feature ${JSON.stringify(spec)}`, runner: 'cli', argv: ['intervene', '--model', MODEL, '--transcoders', TRANSCODERS, '--prompt', 'the cat', '--feature', spec, '--threads', '1'], expect: /feature|layer|position|index/i });
  }

  // ---------------------------------------------------------------- flags
  const flagCases: [string[], RegExp][] = [];
  for (const cmd of ['forward', 'analyze', 'intervene']) {
    const base = cmd === 'forward' ? ['--prompt', 'the cat'] : cmd === 'analyze' ? ['--prompt', 'the cat'] : ['--prompt', 'the cat', '--feature', '0:0:0=ablate'];
    flagCases.push(
      [[cmd, ...base, '--model', ''], /--model is empty/],
      [[cmd, ...base, '--model', ' '], /--model is empty/],
      [[cmd, ...base, '--model', join(tmp, 'no-such-model')], /does not exist/],
      [[cmd, ...base, '--model', join(MODEL, 'config.json')], /is a file, not a folder/],
      [[cmd, ...base, '--bogus'], /Unknown option|unknown option/i],
      [[cmd, ...base, 'stray'], /unexpected argument/],
      [[cmd, ...base, '--threads', '100000'], /--threads must be an integer from 0 to/],
      [[cmd, ...base, '--threads', '-1'], /--threads/],
      [[cmd, ...base, '--threads='], /--threads/],
      [[cmd, ...base, '--threads', '1.5'], /--threads/],
      [[cmd, ...base, '--provider', 'gpu'], /--provider must be one of/],
      [[cmd, ...base, '--provider', ''], /--provider/],
      [[cmd, ...base, '--provider', 'constructor'], /--provider/],
      [[cmd, ...base, '--cache-dir', ''], /--cache-dir is empty/],
      [[cmd, ...base, '--cache-dir', join(MODEL, 'config.json')], /--cache-dir .* is a file/],
      [[cmd, ...base, '--prompt', 'again'], /prompt/],
    );
    if (cmd !== 'forward') {
      flagCases.push([[cmd, ...base, '--transcoders', ''], /--transcoders is empty/], [[cmd, ...base, '--transcoders', join(tmp, 'nope')], /does not exist/]);
    }
    if (cmd !== 'analyze') flagCases.push([[cmd, ...base, '--top', '0'], /--top/], [[cmd, ...base, '--top='], /--top/], [[cmd, ...base, '--top', '1e400'], /--top/]);
  }
  for (const [flag, vals] of [['node-threshold', ['', '2', '-0.1', 'NaN', 'Infinity', 'half', '1e-400x']], ['edge-threshold', ['', '1.01', 'abc']], ['max-feature-nodes', ['0', '', '-5']], ['batch-size', ['0', '', '1.5']], ['max-logits', ['0', '']], ['paths', ['-1', '']]] as [string, string[]][]) {
    for (const v of vals) flagCases.push([['analyze', '--prompt', 'the cat', `--${flag}=${v}`], new RegExp(`--${flag}`)]);
  }
  flagCases.push(
    [['forward', '--prompt', 'x', '--precision', 'f8'], /--precision/], [['forward', '--prompt', 'x', '--precision='], /--precision/],
    [['forward'], /--prompt/], [['analyze'], /exactly one of/], [['intervene', '--prompt', 'x'], /--feature/], [['forward', '--prompt', 'x', '--ids', '1'], /not both/],
    [['analyze', '--prompt', 'x', '--ids', '1'], /exactly one of/], [['nonsense'], /unknown command/], [['__proto__'], /unknown command/], [['constructor'], /unknown command/],
    [['toString'], /unknown command/], [[], /Usage/], [['forward', '--json=yes', '--prompt', 'x'], /json/],
  );
  for (const [argv, re] of flagCases) add({ category: 'flags', name: argv.join(' ').slice(0, 90), runner: 'cli', argv, expect: re });

  // ---------------------------------------------------------------- output paths
  const outs: [string, string, RegExp][] = [
    ['--out in a missing folder', join(tmp, 'missing', 'g.json'), /folder .* does not exist/],
    ['--out is a folder', tmp, /is a folder/],
    ['--out ""', '', /--out is empty/],
    ['--out under a file', join(MODEL, 'config.json', 'g.json'), /is not a folder/],
    ['--out on a full disk', '/dev/full', /disk is full/],
    ['--out in /proc', '/proc/self/nope.json', /cannot|does not exist|not permitted|denied|read-only/],
  ];
  for (const [what, out, re] of outs) add({ category: 'file system', name: what, runner: 'cli', argv: [...an0('--prompt', 'the cat'), '--out', out], expect: re });
  add({ category: 'file system', name: '--hooks in a missing folder', runner: 'cli', argv: ['forward', '--model', MODEL, '--prompt', 'x', '--hooks', join(tmp, 'missing', 'h.safetensors')], expect: /does not exist/ });
  add({ category: 'file system', name: '--hooks on a full disk', runner: 'cli', argv: ['forward', '--model', MODEL, '--prompt', 'the cat', '--threads', '1', '--hooks', '/dev/full'], expect: /disk is full/ });

  // ---------------------------------------------------------------- graph files
  const graph = JSON.parse(readFileSync(GRAPH, 'utf8')) as { metadata: Record<string, unknown>; nodes: Record<string, unknown>[]; links: Record<string, unknown>[]; qParams: unknown };
  const gdir = folder('graphs');
  const gf = (what: string, g: unknown): string => {
    const p = join(gdir, `${what.replace(/[^a-z0-9]+/gi, '-')}.json`);
    writeFileSync(p, typeof g === 'string' ? g : JSON.stringify(g));
    return p;
  };
  const clone = () => JSON.parse(JSON.stringify(graph)) as typeof graph;
  /** [name, graph, what a refusal must name, whether accepting it is also fine] */
  const graphCases: [string, unknown, RegExp, boolean?][] = [
    ['empty', '', /JSON|empty/], ['not JSON', '{"nodes": [', /JSON/], ['array', '[]', /object|graph/], ['number', '42', /object|graph/],
    ['string', '"graph"', /object|graph/], ['null', 'null', /object|graph/], ['nested 100000 deep', '['.repeat(100000) + ']'.repeat(100000), /deep|nest|object|graph/],
    ['other JSON (package.json)', readFileSync(join(ROOT, 'package.json'), 'utf8'), /graph|metadata|nodes/],
  ];
  for (const field of ['metadata', 'nodes', 'links', 'qParams']) {
    for (const v of [undefined, null, 7, 'x', [], {}]) {
      if (rand() < 0.5) continue;
      const g = clone() as unknown as Record<string, unknown>;
      if (v === undefined) delete g[field];
      else g[field] = v;
      graphCases.push([`${field} = ${JSON.stringify(v)}`, g, new RegExp(field), field === 'qParams' && (v === null || v === undefined || typeof v === 'object')]);
    }
  }
  const nodeFields = ['node_id', 'feature', 'layer', 'ctx_idx', 'feature_type', 'clerp', 'activation', 'influence'];
  for (let i = 0; i < 24; i++) {
    const g = clone();
    const k = Math.floor(rand() * g.nodes.length);
    const f = pick(nodeFields);
    const v = pick<unknown>([1e308, -1e308, '1e999', null, [], {}, '__proto__', 'constructor', -1, 1.5, 'x'.repeat(100_000), true]);
    g.nodes[k][f] = v;
    // Some odd values are still a valid graph (a clerp "constructor", an influence of 1.5): either
    // outcome is fine as long as a refusal names the field; 1e308 must never be read (it is not a float32).
    graphCases.push([`nodes[${k}].${f} = ${JSON.stringify(v)?.slice(0, 20)}`, g, new RegExp(`nodes\\[${k}\\]|${f}|node`), Math.abs(Number(v)) !== 1e308]);
  }
  for (let i = 0; i < 12; i++) {
    const g = clone();
    const k = Math.floor(rand() * g.links.length);
    const f = pick(['source', 'target', 'weight']);
    const v = pick<unknown>([1e308, -1e308, null, 'nope', '__proto__', 42, [], 'toString']);
    g.links[k][f] = v;
    graphCases.push([`links[${k}].${f} = ${JSON.stringify(v)}`, g, new RegExp(`links\\[${k}\\]|${f}|link`), f === 'weight' && v === 42]);
  }
  {
    const g = clone();
    g.nodes.push({ ...g.nodes[0] });
    graphCases.push(['duplicate node (same id twice)', g, /duplicate|node_id|twice/]);
    const g2 = clone();
    g2.links.push({ ...g2.links[0] });
    graphCases.push(['duplicate link', g2, /duplicate|link/]);
    const g3 = clone();
    // The count is refused before any node is looked at, so empty objects make a small file.
    g3.nodes = Array.from({ length: 100_001 }, () => ({}));
    graphCases.push(['100,001 nodes', g3, /nodes.*limit is 100000/]);
    const g4 = clone();
    g4.metadata = JSON.parse('{"__proto__": {"polluted": 1}}');
    graphCases.push(['metadata is {"__proto__": …}', g4, /metadata|slug|prompt/]);
  }
  for (const [what, g, re, either] of graphCases) add({ category: 'graph file', name: what, runner: 'graph', argv: [gf(what, g)], expect: re, ...(either ? { either: true as const } : {}) });
  add({ category: 'graph file', name: 'graph path is a folder', runner: 'graph', argv: [gdir], expect: /folder/ });
  add({ category: 'graph file', name: 'graph file missing', runner: 'graph', argv: [join(gdir, 'nope.json')], expect: /does not exist|not found|nope\.json/ });
  add({ category: 'graph file', name: 'the sample itself', runner: 'graph', argv: [GRAPH], ok: true });

  return cases;
}

/** The cases that need a real process: hangs (FIFOs) and crashes (long command lines) only show there. */
export function processCases(tmp: string, mkfifo: (path: string) => boolean): BadCase[] {
  const out: BadCase[] = [];
  const d = join(tmp, 'proc-fifo');
  cpSync(MODEL, d, { recursive: true });
  rmSync(join(d, 'config.json'));
  if (mkfifo(join(d, 'config.json'))) {
    out.push({ category: 'file system', name: 'config.json is a FIFO (process)', runner: 'process', argv: ['forward', '--model', d, '--prompt', 'x'], expect: /named pipe/ });
  }
  const p = join(tmp, 'prompt.fifo');
  if (mkfifo(p)) {
    out.push({ category: 'file system', name: 'prompt file is a FIFO (process)', runner: 'process', argv: ['analyze', '--model', MODEL, '--transcoders', TRANSCODERS, '--prompt-file', p], expect: /named pipe/ });
  }
  out.push(
    { category: 'prompt', name: '15000 ids on the command line (process)', runner: 'process', argv: ['forward', '--model', MODEL, '--ids', Array(15000).fill('5').join(',')], expect: /15000 tokens long/ },
    { category: 'prompt', name: 'long command line that runs (process)', runner: 'process', argv: ['forward', '--model', MODEL, '--ids', Array(30).fill('5').join(','), '--threads', '1', '--cache-dir', join(tmp, 'cache', ...Array(15000).fill('.'))], ok: /Top 10 next tokens/ },
  );
  return out;
}
