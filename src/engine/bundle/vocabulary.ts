/**
 * A model folder's prompt vocabulary, read from tokenizer.json alone (no weights, no ONNX session), for
 * the editor's unknown-word diagnostics and completions. Word-level means what the embedded toy model's
 * tokenizer is: a `WordLevel` model behind a whitespace split and no normaliser, so a prompt's words
 * are exactly its whitespace-separated pieces.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { EngineError } from '../errors';
import { hasOwn, readUserJson } from '../user-files';
import type { PromptVocabulary } from '../../shared/vocabulary';

const WHITESPACE_SPLITS = new Set(['WhitespaceSplit']);

function isWhitespaceSplit(pre: unknown): boolean {
  const p = pre as Record<string, unknown> | null;
  if (!p || typeof p !== 'object') return false;
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) return p.pretokenizers.length === 1 && isWhitespaceSplit(p.pretokenizers[0]);
  return typeof p.type === 'string' && WHITESPACE_SPLITS.has(p.type);
}

export function readPromptVocabulary(dir: string, name = basename(dir)): PromptVocabulary {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) {
    throw new EngineError('TOKENIZER_MISSING', `No tokenizer.json in ${dir}.`, "Copy tokenizer.json from the model's Hugging Face repository into the folder.");
  }
  const json = readUserJson(path, 'tokenizer.json', 'TOKENIZER_INVALID', 512 * 1024 ** 2, 'Download tokenizer.json again.') as Record<string, unknown>;
  const model = (json && typeof json === 'object' && hasOwn(json, 'model') ? json.model : undefined) as Record<string, unknown> | undefined;
  const wordLevel = !!model && model.type === 'WordLevel' && (json.normalizer === null || json.normalizer === undefined) && isWhitespaceSplit(json.pre_tokenizer);
  if (!wordLevel) return { model: name, wordLevel: false, words: [] };
  const special = new Set<string>();
  if (Array.isArray(json.added_tokens)) for (const t of json.added_tokens as Record<string, unknown>[]) if (t && t.special === true && typeof t.content === 'string') special.add(t.content);
  const vocab = hasOwn(model, 'vocab') ? model!.vocab : undefined;
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab)) throw new EngineError('TOKENIZER_INVALID', `${path} has a WordLevel model without a vocabulary.`, 'Download tokenizer.json again.');
  const words = Object.entries(vocab as Record<string, unknown>)
    .filter(([w, id]) => typeof id === 'number' && !special.has(w) && !/\s/.test(w) && w.length > 0)
    .sort((a, b) => (a[1] as number) - (b[1] as number))
    .map(([w]) => w);
  const unk = hasOwn(model, 'unk_token') && typeof model!.unk_token === 'string' ? model!.unk_token : undefined;
  return { model: name, wordLevel: true, words, unk };
}
