/**
 * Every failure the engine reports to a user is an EngineError with a stable code, so the CLI, the
 * worker protocol and the extension can show an actionable message (and the tests can assert the
 * kind of failure) without parsing strings or leaking stack traces.
 */
export type EngineErrorCode =
  | 'MODEL_NOT_FOUND'
  | 'CONFIG_INVALID'
  | 'UNSUPPORTED_ARCHITECTURE'
  | 'SAFETENSORS_INVALID'
  | 'UNSUPPORTED_DTYPE'
  | 'TENSOR_MISSING'
  | 'TENSOR_SHAPE'
  | 'WEIGHTS_NOT_FINITE'
  | 'TOKENIZER_MISSING'
  | 'TOKENIZER_INVALID'
  | 'PROMPT_EMPTY'
  | 'PROMPT_TOO_LONG'
  | 'DICTIONARY_INVALID'
  | 'DICTIONARY_MISMATCH'
  | 'GRAPH_FILE_INVALID'
  | 'OUTPUT_UNWRITABLE'
  | 'NO_ACTIVE_FEATURES'
  | 'ATTENTION_QUERY_INVALID'
  | 'PROVIDER_UNAVAILABLE'
  | 'OUT_OF_MEMORY'
  | 'CANCELLED'
  | 'INTERNAL';

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** What the user can do about it, shown as the action of a notification or a CLI hint. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export function isEngineError(e: unknown): e is EngineError {
  return e instanceof EngineError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'EngineError');
}

/** Throws CANCELLED when the signal has fired; long loops call this between batches. */
export function throwIfCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw new EngineError('CANCELLED', 'Cancelled.');
}
