/** Chooses the architecture mapping for a config.json: by model_type, else by the architectures list. */
import { EngineError } from '../errors';
import type { ModelSpec } from '../model-spec';
import type { MappingInput } from './common';
import { mapGemma2 } from './gemma2';
import { mapGpt2 } from './gpt2';
import { mapLlama } from './llama';
import { mapQwen3 } from './qwen3';

const BY_MODEL_TYPE: Record<string, (i: MappingInput) => ModelSpec> = {
  gpt2: mapGpt2,
  llama: mapLlama,
  gemma2: mapGemma2,
  qwen3: mapQwen3,
};

const BY_ARCHITECTURE: Record<string, string> = {
  GPT2LMHeadModel: 'gpt2',
  GPT2Model: 'gpt2',
  LlamaForCausalLM: 'llama',
  Gemma2ForCausalLM: 'gemma2',
  Qwen3ForCausalLM: 'qwen3',
};

export const SUPPORTED_MODEL_TYPES = Object.keys(BY_MODEL_TYPE);

export function modelTypeOf(config: Record<string, unknown>): string {
  const mt = config.model_type;
  if (typeof mt === 'string' && mt in BY_MODEL_TYPE) return mt;
  const archs = Array.isArray(config.architectures) ? (config.architectures as unknown[]) : [];
  for (const a of archs) if (typeof a === 'string' && a in BY_ARCHITECTURE) return BY_ARCHITECTURE[a];
  const what = typeof mt === 'string' ? `model_type "${mt}"` : archs.length ? `architectures ${JSON.stringify(archs)}` : 'no model_type';
  throw new EngineError(
    'UNSUPPORTED_ARCHITECTURE',
    `config.json has ${what}; supported model types: ${SUPPORTED_MODEL_TYPES.join(', ')}.`,
    'Circuit Inspector runs GPT-2, Llama-3.x, Gemma-2 and Qwen3 checkpoints.',
  );
}

export function mapArchitecture(input: MappingInput): ModelSpec {
  return BY_MODEL_TYPE[modelTypeOf(input.config)](input);
}
