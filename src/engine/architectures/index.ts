/** Chooses the architecture mapping for a config.json: by model_type, else by the architectures list. */
import { EngineError } from '../errors';
import type { ModelSpec } from '../model-spec';
import type { MappingInput } from './common';
import { mapGemma2 } from './gemma2';
import { mapGpt2 } from './gpt2';
import { mapLlama } from './llama';
import { mapQwen3 } from './qwen3';

// Maps, not object literals: a config saying model_type "constructor" must not find Object's.
const BY_MODEL_TYPE = new Map<string, (i: MappingInput) => ModelSpec>([
  ['gpt2', mapGpt2],
  ['llama', mapLlama],
  ['gemma2', mapGemma2],
  ['qwen3', mapQwen3],
]);

const BY_ARCHITECTURE = new Map<string, string>([
  ['GPT2LMHeadModel', 'gpt2'],
  ['GPT2Model', 'gpt2'],
  ['LlamaForCausalLM', 'llama'],
  ['Gemma2ForCausalLM', 'gemma2'],
  ['Qwen3ForCausalLM', 'qwen3'],
]);

export const SUPPORTED_MODEL_TYPES = [...BY_MODEL_TYPE.keys()];

export function modelTypeOf(config: Record<string, unknown>): string {
  const mt = Object.prototype.hasOwnProperty.call(config, 'model_type') ? config.model_type : undefined;
  if (typeof mt === 'string' && BY_MODEL_TYPE.has(mt)) return mt;
  const archs = Object.prototype.hasOwnProperty.call(config, 'architectures') && Array.isArray(config.architectures) ? (config.architectures as unknown[]) : [];
  for (const a of archs) if (typeof a === 'string' && BY_ARCHITECTURE.has(a)) return BY_ARCHITECTURE.get(a)!;
  const what = typeof mt === 'string' ? `model_type ${JSON.stringify(mt.slice(0, 200))}` : archs.length ? `architectures ${JSON.stringify(archs).slice(0, 300)}` : 'no model_type';
  throw new EngineError(
    'UNSUPPORTED_ARCHITECTURE',
    `config.json has ${what}; supported model types: ${SUPPORTED_MODEL_TYPES.join(', ')}.`,
    'Circuit Inspector runs GPT-2, Llama-3.x, Gemma-2 and Qwen3 checkpoints.',
  );
}

export function mapArchitecture(input: MappingInput): ModelSpec {
  return BY_MODEL_TYPE.get(modelTypeOf(input.config))!(input);
}
