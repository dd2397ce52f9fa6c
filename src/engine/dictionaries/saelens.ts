/**
 * SAELens SAEs: a folder with `cfg.json` (`d_in`, `d_sae`, `hook_name` such as
 * `blocks.12.hook_resid_post`, `architecture` standard | jumprelu | topk, `apply_b_dec_to_input`,
 * `normalize_activations`, `activation_fn_kwargs.k` / `k`, `model_name`) and `sae_weights.safetensors`
 * (`W_enc` [d_in, d_sae], `W_dec` [d_sae, d_in], `b_enc`, `b_dec`, `threshold` for JumpReLU).
 *
 * SAELens's encoder is act((x − b_dec·[apply_b_dec_to_input]) W_enc + b_enc); the b_dec term is folded
 * into b_enc. JumpReLU is relu(h)·(h > threshold), i.e. a threshold floored at 0; TopK applies a ReLU to
 * the kept values. Architectures whose encoder is not one affine map plus an activation (gated) and
 * input normalisations that depend on the data are refused with a clear message.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { EngineError } from '../errors';
import { readUserJson } from '../user-files';
import { engineHook, splitHook } from './hooks';
import { LayeredDictionary } from './layered';
import { resolveInside } from './paths';
import { SafetensorsSource } from './sources';
import type { ActivationFunction, Dictionary } from './types';

function invalid(msg: string, hint?: string): never {
  throw new EngineError('DICTIONARY_INVALID', msg, hint);
}

function own(o: unknown, k: string): unknown {
  return typeof o === 'object' && o !== null && Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined;
}

export function isSaeLensFolder(dir: string): boolean {
  return existsSync(join(dir, 'cfg.json')) && existsSync(join(dir, 'sae_weights.safetensors'));
}

export function loadSaeLens(dir: string): Dictionary {
  const cfgPath = join(dir, 'cfg.json');
  const cfg = readUserJson(cfgPath, 'The SAE config cfg.json', 'DICTIONARY_INVALID', 1024 * 1024);
  const meta = own(cfg, 'metadata');
  const get = (k: string) => own(cfg, k) ?? own(meta, k);
  const hookName = get('hook_name');
  if (typeof hookName !== 'string') invalid(`cfg.json in ${dir} has no hook_name.`);
  const { layer } = splitHook(hookName);
  if (layer === undefined) invalid(`cfg.json in ${dir}: hook_name "${hookName}" names no layer (expected blocks.{layer}.…).`);
  const head = get('hook_head_index');
  if (head !== undefined && head !== null) invalid(`cfg.json in ${dir}: the SAE reads one attention head (hook_head_index ${head}), which Circuit Inspector does not support.`);
  const hook = engineHook(hookName, layer, 'cfg.json hook_name');
  const norm = get('normalize_activations');
  if (norm !== undefined && norm !== null && norm !== 'none' && norm !== false) {
    invalid(`cfg.json in ${dir}: normalize_activations is "${String(norm)}"; only SAEs without input normalisation are supported.`, 'Fold the normalisation into the weights (SAELens: fold_activation_norm_scaling_factor) and save again.');
  }
  const arch = (get('architecture') as string | undefined) ?? 'standard';
  const src = new SafetensorsSource(resolveInside(dir, 'sae_weights.safetensors', 'sae_weights.safetensors'), 'sae_weights.safetensors');
  let activation: ActivationFunction;
  let thresholdName: string | undefined;
  if (arch === 'standard') {
    const fn = get('activation_fn_str') ?? 'relu';
    if (fn === 'topk') activation = topk(get, dir);
    else if (fn === 'relu') activation = { kind: 'relu' };
    else return invalid(`cfg.json in ${dir}: activation_fn_str "${String(fn)}" is not supported; use relu or topk.`);
  } else if (arch === 'jumprelu') {
    activation = { kind: 'jumprelu' };
    thresholdName = 'threshold';
    if (!src.has('threshold')) {
      invalid(`sae_weights.safetensors in ${dir} has no threshold but cfg.json says architecture jumprelu${src.has('log_threshold') ? ' (it has log_threshold, a training checkpoint; save the SAE for inference)' : ''}.`);
    }
  } else if (arch === 'topk') {
    activation = topk(get, dir);
  } else {
    return invalid(`cfg.json in ${dir}: architecture "${arch}" is not supported; use standard, jumprelu or topk.`);
  }
  const dIn = get('d_in');
  const dSae = get('d_sae');
  const bDec = src.shape('b_dec');
  if (bDec.length !== 1) invalid(`sae_weights.safetensors in ${dir}: b_dec has shape [${bDec}]; expected [d_in].`);
  if (dIn !== undefined && dIn !== bDec[0]) invalid(`cfg.json in ${dir} says d_in ${String(dIn)} but b_dec has ${bDec[0]} values.`);
  const bEnc = src.shape('b_enc');
  if (dSae !== undefined && !(bEnc.length === 1 && dSae === bEnc[0])) invalid(`cfg.json in ${dir} says d_sae ${String(dSae)} but b_enc has shape [${bEnc}].`);
  const applyBDec = get('apply_b_dec_to_input');
  const modelName = get('model_name');
  const dict = new LayeredDictionary({
    kind: 'sae', format: 'saelens', path: dir, name: (get('neuronpedia_id') as string | undefined) ?? basename(dir),
    ...(typeof modelName === 'string' ? { modelName } : {}),
    dModel: bDec[0], layers: [layer], activation,
    inputHooks: new Map([[layer, hook]]), outputHooks: new Map([[layer, hook]]), labelsDir: dir,
    specs: [{
      layer, src,
      names: { wEnc: 'W_enc', wDec: 'W_dec', bEnc: 'b_enc', bDec: 'b_dec', ...(thresholdName ? { threshold: thresholdName } : {}) },
      encLayout: 'DF', decLayout: 'FD',
      // SAELens's default is to subtract b_dec from the input.
      foldBDec: applyBDec === undefined ? true : applyBDec === true,
      thresholdFloor: 0,
    }],
  });
  dict.state(layer);
  return dict;
}

function topk(get: (k: string) => unknown, dir: string): ActivationFunction {
  const k = get('k') ?? own(get('activation_fn_kwargs'), 'k');
  if (!Number.isSafeInteger(k) || (k as number) < 1) invalid(`cfg.json in ${dir}: a TopK SAE needs k (in k or activation_fn_kwargs.k).`);
  return { kind: 'topk', k: k as number, relu: true };
}
