/**
 * circuit-tracer dictionaries: a folder with `config.yaml` (`model_name`, `model_kind`
 * transcoder_set | cross_layer_transcoder, `feature_input_hook`, `feature_output_hook`, `transcoders`,
 * `activation`, `k`) and the weight files; or a bare folder of `layer_{i}.safetensors` (per-layer
 * transcoders) or `W_enc_{i}.safetensors` + `W_dec_{i}.safetensors` (a CLT), hooks defaulting to the
 * MLP's input and output.
 *
 * `transcoders` is circuit-tracer's list of file paths, one per layer in order, or a list of
 * `{id, layer, filepath}` objects. A path may name a circuit-tracer `.safetensors`, a Gemma Scope
 * `params.npz`, or a Gemma Scope 2 `.safetensors` (lower-case `w_enc`…); every path is resolved inside
 * the folder (see paths.ts). An optional `weight_layout: features_first | d_model_first` settles the
 * orientation of square W_enc / W_dec matrices, which shapes alone cannot.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { EngineError } from '../errors';
import { readUserTextFile } from '../user-files';
import { CltDictionary } from './clt';
import { engineHook } from './hooks';
import { LayeredDictionary, type Layout, type LayerSpec } from './layered';
import { resolveInside } from './paths';
import { NpzSource, SafetensorsSource, type TensorSource } from './sources';
import type { ActivationFunction, Dictionary } from './types';

const MAX_CONFIG_BYTES = 1024 * 1024;
const DEFAULT_IN = 'ln2.hook_normalized';
const DEFAULT_OUT = 'hook_mlp_out';
const LAYOUT_HINT = 'add `weight_layout: features_first` (W_enc / W_dec stored [features, d_model], circuit-tracer\'s layout) or `weight_layout: d_model_first` to config.yaml';

function invalid(msg: string, hint?: string): never {
  throw new EngineError('DICTIONARY_INVALID', msg, hint);
}

function own(o: unknown, k: string): unknown {
  return typeof o === 'object' && o !== null && Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined;
}

export function readYamlConfig(dir: string): Record<string, unknown> {
  const file = join(dir, 'config.yaml');
  const text = readUserTextFile(file, 'The dictionary config', 'DICTIONARY_INVALID', undefined, MAX_CONFIG_BYTES);
  let cfg: unknown;
  try {
    cfg = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (e) {
    invalid(`config.yaml in ${dir} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) invalid(`config.yaml in ${dir} is not a mapping of settings.`);
  return cfg as Record<string, unknown>;
}

function optString(cfg: Record<string, unknown>, key: string): string | undefined {
  const v = own(cfg, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') invalid(`config.yaml: ${key} must be a string, not ${JSON.stringify(v)}.`);
  return v;
}

/** Files named `${prefix}{i}${suffix}` in dir, as a dense list 0 … n − 1 (or an error naming the gap). */
export function numberedFiles(dir: string, prefix: string, suffix: string): string[] {
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)${suffix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  const found = new Map<number, string>();
  for (const name of readdirSync(dir)) {
    const m = re.exec(name);
    if (m) found.set(Number(m[1]), name);
  }
  const n = found.size;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = found.get(i);
    if (!f) invalid(`${dir} has ${prefix}{i}${suffix} files for layers ${[...found.keys()].sort((a, b) => a - b).join(', ')}, but not for layer ${i}; circuit-tracer needs every layer from 0.`);
    out.push(f);
  }
  return out;
}

function layoutFromConfig(cfg: Record<string, unknown>): Layout {
  const v = optString(cfg, 'weight_layout');
  if (v === undefined) return 'auto';
  if (v === 'features_first') return 'FD';
  if (v === 'd_model_first') return 'DF';
  return invalid(`config.yaml: weight_layout is "${v}"; use features_first or d_model_first.`);
}

/** The per-layer spec for one transcoder file, by its format (circuit-tracer / Gemma Scope / Gemma Scope 2). */
function layerSpec(full: string, rel: string, layer: number, layout: Layout): LayerSpec {
  if (rel.toLowerCase().endsWith('.npz')) {
    return {
      layer, src: new NpzSource(full, rel),
      names: { wEnc: 'W_enc', wDec: 'W_dec', bEnc: 'b_enc', bDec: 'b_dec', threshold: 'threshold' },
      encLayout: 'DF', decLayout: 'FD',
    };
  }
  const src: TensorSource = new SafetensorsSource(full, rel);
  if (src.has('w_enc')) {
    return {
      layer, src,
      names: { wEnc: 'w_enc', wDec: 'w_dec', bEnc: 'b_enc', bDec: 'b_dec', threshold: 'threshold', wSkip: 'affine_skip_connection' },
      encLayout: 'DF', decLayout: 'FD', skipLayout: 'xW',
    };
  }
  return {
    layer, src,
    names: {
      wEnc: 'W_enc', wDec: 'W_dec', bEnc: 'b_enc', bDec: 'b_dec',
      threshold: src.has('activation_function.threshold') ? 'activation_function.threshold' : 'threshold', wSkip: 'W_skip',
    },
    encLayout: layout, decLayout: layout, skipLayout: 'torch', layoutHint: LAYOUT_HINT,
  };
}

/** Layer → file path from config `transcoders` (strings or {layer, filepath} objects). */
function transcoderPaths(dir: string, list: unknown): { layer: number; rel: string; full: string }[] {
  if (!Array.isArray(list) || list.length === 0) invalid(`config.yaml in ${dir}: transcoders must be a non-empty list of file paths.`);
  const out = list.map((entry, i) => {
    let rel: unknown = entry;
    let layer: unknown = i;
    if (typeof entry === 'object' && entry !== null) {
      rel = own(entry, 'filepath') ?? own(entry, 'path');
      layer = own(entry, 'layer') ?? i;
    }
    if (typeof rel !== 'string') invalid(`config.yaml: transcoders[${i}] has no file path (a string, or an object with filepath).`);
    if (!Number.isSafeInteger(layer) || (layer as number) < 0) invalid(`config.yaml: transcoders[${i}].layer must be an integer ≥ 0.`);
    return { layer: layer as number, rel, full: resolveInside(dir, rel, `config.yaml transcoders[${i}]`) };
  });
  out.sort((a, b) => a.layer - b.layer);
  out.forEach((e, i) => {
    if (e.layer !== i) invalid(`config.yaml in ${dir}: transcoders cover layers ${out.map((x) => x.layer).join(', ')}; circuit-tracer needs exactly one per layer from 0 (layer ${i} is ${e.layer < i ? 'repeated' : 'missing'}).`);
  });
  return out;
}

function activationFor(cfg: Record<string, unknown>, first: LayerSpec | undefined, what: string): ActivationFunction {
  const a = optString(cfg, 'activation');
  if (a === 'relu') return { kind: 'relu' };
  if (a === 'topk') {
    let k = own(cfg, 'k');
    if (k === undefined && first?.src.has('k')) k = first.src.read('k')[0];
    if (!Number.isSafeInteger(k) || (k as number) < 1) invalid(`${what}: activation is topk but k is ${k === undefined ? 'not given' : JSON.stringify(k)}; set k in config.yaml.`);
    return { kind: 'topk', k: k as number, relu: false };
  }
  if (a !== undefined && a !== 'jumprelu' && a !== 'jump_relu') invalid(`${what}: activation "${a}" is not supported; use relu, jumprelu or topk.`);
  if (a === undefined && first && !(first.names.threshold && first.src.has(first.names.threshold))) return { kind: 'relu' };
  return { kind: 'jumprelu' };
}

function hooksFor(cfg: Record<string, unknown>, layers: number[]) {
  const inName = optString(cfg, 'feature_input_hook') ?? DEFAULT_IN;
  const outName = optString(cfg, 'feature_output_hook') ?? DEFAULT_OUT;
  return {
    inputHooks: new Map(layers.map((l) => [l, engineHook(inName, l, 'feature_input_hook')])),
    outputHooks: new Map(layers.map((l) => [l, engineHook(outName, l, 'feature_output_hook')])),
  };
}

/** Per-layer transcoders from a list of specs (shared by circuit-tracer and Gemma Scope folders). */
export function transcoderSet(
  dir: string, specs: LayerSpec[], cfg: Record<string, unknown>, format: 'circuit-tracer' | 'gemma-scope', name: string,
): Dictionary {
  const layers = specs.map((s) => s.layer);
  const activation = activationFor(cfg, specs[0], `${dir}`);
  if (activation.kind === 'jumprelu') {
    for (const s of specs) {
      if (s.src.cheapShapes && !(s.names.threshold && s.src.has(s.names.threshold))) {
        invalid(`${s.src.file} has no JumpReLU threshold (${s.names.threshold}) but the set uses JumpReLU.`);
      }
    }
  }
  const first = specs[0];
  const bDec = first.src.shape(first.names.bDec);
  if (bDec.length !== 1) invalid(`${first.src.file}: ${first.names.bDec} has shape [${bDec}]; expected a vector [d_model].`);
  const modelName = optString(cfg, 'model_name');
  const dict = new LayeredDictionary({
    kind: 'transcoders', format, path: dir, name, ...(modelName ? { modelName } : {}),
    dModel: bDec[0], layers, activation, ...hooksFor(cfg, layers), labelsDir: dir, specs,
  });
  // Validate every layer whose shapes are cheap to read (safetensors headers), so a broken set fails
  // at load rather than in the middle of an analysis; .npz layers are checked when first read.
  for (const s of specs) if (s.src.cheapShapes || s === first) dict.state(s.layer);
  return dict;
}

function cltFromFolder(dir: string, cfg: Record<string, unknown>, name: string): Dictionary {
  if (own(cfg, 'transcoders') !== undefined) {
    invalid(`config.yaml in ${dir} lists transcoders for a cross-layer transcoder (the Gemma Scope 2 CLT layout), which Circuit Inspector does not read.`, 'Convert it to circuit-tracer\'s W_enc_{i} / W_dec_{i} safetensors files.');
  }
  const encNames = numberedFiles(dir, 'W_enc_', '.safetensors');
  if (encNames.length === 0) invalid(`${dir} is a cross-layer transcoder (config.yaml) but has no W_enc_{i}.safetensors files.`);
  const files = encNames.map((e, i) => {
    const decRel = `W_dec_${i}.safetensors`;
    if (!existsSync(join(dir, decRel))) invalid(`${dir} has ${e} but no ${decRel}.`);
    return { enc: new SafetensorsSource(resolveInside(dir, e, e), e), dec: new SafetensorsSource(resolveInside(dir, decRel, decRel), decRel) };
  });
  const layers = files.map((_, i) => i);
  const a = optString(cfg, 'activation');
  let activation: ActivationFunction;
  if (a === 'relu') activation = { kind: 'relu' };
  else if (a === undefined || a === 'jumprelu' || a === 'jump_relu') activation = files[0].enc.has('threshold_0') ? { kind: 'jumprelu' } : { kind: 'relu' };
  else return invalid(`config.yaml in ${dir}: activation "${a}" is not supported for a CLT; use relu or jumprelu.`);
  const bDec = files[0].enc.shape('b_dec_0');
  if (bDec.length !== 1) invalid(`W_enc_0.safetensors: b_dec_0 has shape [${bDec}]; expected [d_model].`);
  const modelName = optString(cfg, 'model_name');
  return new CltDictionary({
    kind: 'clt', format: 'circuit-tracer-clt', path: dir, name, ...(modelName ? { modelName } : {}),
    dModel: bDec[0], layers, activation, ...hooksFor(cfg, layers), labelsDir: dir, files, layoutHint: LAYOUT_HINT,
  });
}

/** Whether the folder looks like a circuit-tracer dictionary (config.yaml, layer files or CLT files). */
export function isCircuitTracerFolder(dir: string): boolean {
  if (existsSync(join(dir, 'config.yaml'))) return true;
  return readdirSync(dir).some((n) => /^(layer_\d+|W_enc_\d+)\.safetensors$/.test(n));
}

export function loadCircuitTracer(dir: string): Dictionary {
  const hasConfig = existsSync(join(dir, 'config.yaml'));
  const cfg = hasConfig ? readYamlConfig(dir) : {};
  const name = optString(cfg, 'scan') ?? optString(cfg, 'scan_name') ?? basename(dir);
  let kind = optString(cfg, 'model_kind');
  if (kind === undefined) {
    const names = readdirSync(dir);
    kind = names.some((n) => /^W_enc_\d+\.safetensors$/.test(n)) && !names.some((n) => /^layer_\d+\.safetensors$/.test(n))
      ? 'cross_layer_transcoder'
      : 'transcoder_set';
  }
  if (kind === 'cross_layer_transcoder') return cltFromFolder(dir, cfg, name);
  if (kind !== 'transcoder_set') invalid(`config.yaml in ${dir}: model_kind "${kind}" is not supported; use transcoder_set or cross_layer_transcoder.`);
  const layout = layoutFromConfig(cfg);
  const listed = own(cfg, 'transcoders');
  let specs: LayerSpec[];
  if (listed !== undefined) {
    specs = transcoderPaths(dir, listed).map((p) => layerSpec(p.full, p.rel, p.layer, layout));
  } else {
    const files = numberedFiles(dir, 'layer_', '.safetensors');
    if (files.length === 0) invalid(`${dir} has no layer_{i}.safetensors files${hasConfig ? ' and its config.yaml lists no transcoders' : ''}.`);
    specs = files.map((f, i) => layerSpec(resolveInside(dir, f, f), f, i, layout));
  }
  return transcoderSet(dir, specs, cfg, 'circuit-tracer', name);
}
