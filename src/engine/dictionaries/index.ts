/**
 * loadDictionary: finds out which format a folder (or a file in it) holds, loads it, and checks it
 * against the model when one is given.
 *
 * Detection, in order:
 * - `config.yaml`, `layer_{i}.safetensors` or `W_enc_{i}.safetensors` → circuit-tracer (transcoder set
 *   or CLT; a config may list Gemma Scope params.npz files);
 * - `cfg.json` + `sae_weights.safetensors` → SAELens SAE;
 * - `layer_{i}/…/params.npz` → Gemma Scope transcoders.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { EngineError } from '../errors';
import { BaseDictionary, type ModelShape } from './base';
import { isCircuitTracerFolder, loadCircuitTracer } from './circuit-tracer';
import { gemmaScopeLayers, loadGemmaScope } from './gemma-scope';
import { isSaeLensFolder, loadSaeLens } from './saelens';
import type { Dictionary } from './types';

export type { ActivationFunction, Dictionary, DictionaryFormat, DictionaryKind, FeatureExample, FeatureInfo } from './types';
export type { ModelShape } from './base';
export { applyActivation } from './base';
export { parseNpy, readNpz, type NpyArray } from './npy';

function detectAndLoad(dir: string): Dictionary {
  if (isCircuitTracerFolder(dir)) return loadCircuitTracer(dir);
  if (isSaeLensFolder(dir)) return loadSaeLens(dir);
  if (gemmaScopeLayers(dir).size > 0) return loadGemmaScope(dir);
  throw new EngineError(
    'DICTIONARY_INVALID',
    `${dir} holds no dictionary Circuit Inspector can read.`,
    'Expected a circuit-tracer transcoder set (config.yaml, layer_{i}.safetensors) or CLT (W_enc_{i} / W_dec_{i}.safetensors), ' +
      'a SAELens SAE (cfg.json + sae_weights.safetensors), or Gemma Scope transcoders (layer_{i}/…/params.npz).',
  );
}

/**
 * Loads the dictionary at `path` (its folder, or its config.yaml / cfg.json / weights file).
 * With `model`, a d_model or layer-count mismatch is a DICTIONARY_MISMATCH naming both.
 */
export async function loadDictionary(path: string, model?: ModelShape): Promise<Dictionary> {
  return loadDictionarySync(path, model);
}

export function loadDictionarySync(path: string, model?: ModelShape): Dictionary {
  const full = resolve(path);
  if (!existsSync(full)) throw new EngineError('DICTIONARY_INVALID', `The dictionary ${path} does not exist.`, 'Choose the folder of a transcoder set, CLT or SAE.');
  let dir = full;
  if (statSync(full).isFile()) {
    const name = basename(full);
    if (!/^(config\.yaml|cfg\.json|sae_weights\.safetensors|layer_\d+\.safetensors|W_(enc|dec)_\d+\.safetensors)$/.test(name)) {
      throw new EngineError('DICTIONARY_INVALID', `${path} is a file; Circuit Inspector reads dictionaries by folder.`, 'Choose the folder that holds the dictionary\'s config and weight files.');
    }
    dir = dirname(full);
  }
  const dict = detectAndLoad(dir);
  if (model && dict instanceof BaseDictionary) dict.checkModel(model);
  return dict;
}
