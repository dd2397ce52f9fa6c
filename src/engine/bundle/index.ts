/**
 * Loads a model folder in Hugging Face layout (config.json, safetensors weights, tokenizer.json) into
 * a ModelBundle: the canonical ModelSpec, the prompt tokenizer, and a weights hash for caches.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { EngineError } from '../errors';
import { readUserJson } from '../user-files';
import type { ModelBundle, TokenInfo } from '../api';
import { mapArchitecture, modelTypeOf } from '../architectures';
import { HfPromptTokenizer, loadTokenizer } from './tokenizer';
import { WeightStore } from './weights';

export async function loadModelBundle(dirIn: string): Promise<ModelBundle> {
  const dir = resolve(dirIn);
  if (!existsSync(dir)) {
    throw new EngineError('MODEL_NOT_FOUND', `Model folder ${dir} does not exist.`, 'Pass a folder holding config.json, the safetensors weights and tokenizer.json.');
  }
  if (!statSync(dir).isDirectory()) {
    throw new EngineError('MODEL_NOT_FOUND', `The model path ${dir} is a file, not a folder.`, 'Pass the folder holding config.json, the safetensors weights and tokenizer.json.');
  }
  const config = readConfig(dir);
  // Fail on an unknown architecture before reading gigabytes of weights.
  modelTypeOf(config);
  const tokenizer = loadTokenizer(dir);
  const weights = WeightStore.open(dir);
  const spec = mapArchitecture({ config, weights, name: basename(dir) });
  if (tokenizer.vocabSize > spec.vocabSize) {
    throw new EngineError(
      'TOKENIZER_INVALID',
      `tokenizer.json in ${dir} has ids up to ${tokenizer.vocabSize - 1}, but the model's vocabulary has ${spec.vocabSize} rows.`,
      'The tokenizer does not belong to this checkpoint.',
    );
  }
  const bos = bosOf(tokenizer);
  if (bos !== undefined) spec.bosTokenId = bos;
  return { dir, spec, tokenizer, config, weightsHash: weightsHash(weights, config), weightBytes: weights.bytes() };
}

function readConfig(dir: string): Record<string, unknown> {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) {
    throw new EngineError('CONFIG_INVALID', `No config.json in ${dir}.`, 'A Hugging Face model folder needs its config.json beside the weights.');
  }
  // Real configs are a few KB; 16 MB leaves room for anything legitimate.
  const cfg = readUserJson(path, 'config.json', 'CONFIG_INVALID', 16 * 1024 ** 2, 'Download config.json again.');
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) {
    throw new EngineError('CONFIG_INVALID', `${path} is not a JSON object.`, 'Download config.json again.');
  }
  return cfg as Record<string, unknown>;
}

/** The special token the post-processor puts first (BOS), found by encoding a probe text. */
function bosOf(tok: HfPromptTokenizer): number | undefined {
  const t = tok.encode('a');
  return t.length && t[0].special ? t[0].id : undefined;
}

/**
 * A fast, stable fingerprint of the weights: every file's name and size, its header, and 16 sampled
 * 4 KiB blocks spread through the data, plus config.json. Reading every byte of a 5 GB checkpoint to
 * key a cache would cost more than rebuilding the graph.
 */
function weightsHash(w: WeightStore, config: Record<string, unknown>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(config));
  const block = Buffer.alloc(4096);
  for (const f of w.files) {
    h.update(`${basename(f.path)}:${f.fileBytes}\n`);
    const fd = openSync(f.path, 'r');
    try {
      const samples = 16;
      for (let s = 0; s <= samples; s++) {
        const pos = Math.max(0, Math.min(f.fileBytes - block.length, Math.floor((f.fileBytes * s) / samples)));
        const n = readSync(fd, block, 0, block.length, pos);
        h.update(block.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  }
  return h.digest('hex').slice(0, 32);
}

/** Checks a prompt against the model before a run: not empty, not longer than the context. */
export function checkPromptLength(bundle: ModelBundle, nTokens: number): void {
  if (nTokens === 0) throw new EngineError('PROMPT_EMPTY', 'The prompt is empty.', 'Type some text to analyse.');
  const max = bundle.spec.maxPositions;
  if (nTokens > max) {
    throw new EngineError(
      'PROMPT_TOO_LONG',
      `The prompt is ${nTokens} tokens long, but ${bundle.spec.name} accepts at most ${max}.`,
      'Shorten the prompt.',
    );
  }
}

const MAX_CHARS_PER_TOKEN = 64;

/** Tokenises a prompt for a run, rejecting empty and too-long prompts with clear errors. */
export function encodePrompt(bundle: ModelBundle, text: string): TokenInfo[] {
  if (!text.trim().length) throw new EngineError('PROMPT_EMPTY', 'The prompt is empty.', 'Type some text to analyse.');
  // Tokenising a huge text costs seconds (BPE is superlinear in a word's length); no prompt that fits
  // the context averages more than this many characters per token, so refuse before tokenising.
  const max = bundle.spec.maxPositions;
  if (text.length > max * MAX_CHARS_PER_TOKEN) {
    throw new EngineError(
      'PROMPT_TOO_LONG',
      `The prompt is ${text.length} characters long, far more than fits in ${bundle.spec.name}'s context of ${max} tokens.`,
      'Shorten the prompt.',
    );
  }
  const tokens = bundle.tokenizer.encode(text);
  checkPromptLength(bundle, tokens.length);
  return tokens;
}
