/**
 * Which action a notification offers for each engine error, and its text (message and hint, no
 * stack trace). Pure, so it is unit-tested; errors.ts shows them.
 */
import { isEngineError, type EngineErrorCode } from '../engine/errors';

export interface ErrorAction {
  title: string;
  command: string;
  args?: unknown[];
}

const SHOW_LOG: ErrorAction = { title: 'Show Log', command: 'circuitInspector.showLog' };
const SELECT_MODEL: ErrorAction = { title: 'Select Model Folder', command: 'circuitInspector.selectModel' };
const SELECT_PROVIDER: ErrorAction = { title: 'Select Execution Provider', command: 'circuitInspector.selectExecutionProvider' };
const TRANSCODER_SETTINGS: ErrorAction = { title: 'Open Settings', command: 'workbench.action.openSettings', args: ['circuitInspector.transcoderPath'] };
const NEW_PROMPT: ErrorAction = { title: 'New Prompt', command: 'circuitInspector.newPrompt' };
const ANALYSIS_SETTINGS: ErrorAction = { title: 'Open Settings', command: 'workbench.action.openSettings', args: ['circuitInspector'] };

/** The actions offered for an error code (pure; unit-tested). */
export function actionsFor(code: string): ErrorAction[] {
  switch (code as EngineErrorCode) {
    case 'MODEL_NOT_FOUND':
    case 'CONFIG_INVALID':
    case 'UNSUPPORTED_ARCHITECTURE':
    case 'SAFETENSORS_INVALID':
    case 'UNSUPPORTED_DTYPE':
    case 'TENSOR_MISSING':
    case 'TENSOR_SHAPE':
    case 'WEIGHTS_NOT_FINITE':
    case 'TOKENIZER_MISSING':
    case 'TOKENIZER_INVALID':
      return [SELECT_MODEL, SHOW_LOG];
    case 'DICTIONARY_INVALID':
    case 'DICTIONARY_MISMATCH':
    case 'NO_ACTIVE_FEATURES':
      return [TRANSCODER_SETTINGS, SHOW_LOG];
    case 'PROVIDER_UNAVAILABLE':
      return [SELECT_PROVIDER, SHOW_LOG];
    case 'OUT_OF_MEMORY':
      return [ANALYSIS_SETTINGS, SELECT_PROVIDER];
    case 'PROMPT_TOO_LONG':
      // A model with a longer context is the only other way out besides selecting less text.
      return [SELECT_MODEL, SHOW_LOG];
    case 'PROMPT_EMPTY':
      return [NEW_PROMPT];
    default:
      return [SHOW_LOG];
  }
}

/** The text of a notification: message and hint, no stack trace, bounded. */
export function notificationText(e: unknown): { code: string; text: string } {
  if (isEngineError(e)) {
    const hint = e.hint ? ` ${e.hint}` : '';
    return { code: e.code, text: `${e.message}${hint}`.slice(0, 600) };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { code: 'INTERNAL', text: `Something went wrong: ${msg.split('\n')[0].slice(0, 300)}` };
}

