/**
 * Dictionary hook names → the engine's hook names (model-spec.ts `hooks`).
 *
 * circuit-tracer configs name hooks by their suffix in TransformerLens (`ln2.hook_normalized`,
 * `hook_resid_mid`, `hook_mlp_out`) or nnsight (`mlp.hook_in`, `mlp.hook_out`) terms; SAELens names the
 * full TransformerLens hook (`blocks.12.hook_resid_post`). The engine's hooks use TransformerLens names,
 * so most map to themselves; the nnsight names map to the MLP's input (the normalised residual) and
 * output. Anything else is refused with the list of supported names.
 */
import { EngineError } from '../errors';
import { hooks } from '../model-spec';

// A Map: a hook named "constructor" must not find Object's.
const BY_SUFFIX = new Map<string, (l: number) => string>([
  ['ln2.hook_normalized', hooks.mlpIn],
  ['mlp.hook_in', hooks.mlpIn],
  ['hook_mlp_in', hooks.mlpIn],
  ['hook_resid_mid', hooks.residMid],
  ['hook_resid_pre', hooks.residPre],
  ['hook_resid_post', hooks.residPost],
  ['hook_mlp_out', hooks.mlpOut],
  ['mlp.hook_out', hooks.mlpOut],
  ['hook_attn_out', hooks.attnOut],
]);

export const SUPPORTED_HOOKS = [...BY_SUFFIX.keys()];

/** Splits `blocks.{l}.suffix` into its layer and suffix; a bare suffix has no layer. */
export function splitHook(name: string): { layer?: number; suffix: string } {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  return m ? { layer: Number(m[1]), suffix: m[2] } : { suffix: name };
}

/** The engine hook for a dictionary hook name at `layer`; `what` names the config field in errors. */
export function engineHook(name: string, layer: number, what: string): string {
  const { layer: named, suffix } = splitHook(name);
  const f = BY_SUFFIX.get(suffix);
  if (!f) {
    throw new EngineError(
      'DICTIONARY_INVALID',
      `${what} is ${JSON.stringify(name)}, a hook Circuit Inspector does not provide; supported: ${SUPPORTED_HOOKS.join(', ')}.`,
    );
  }
  if (named !== undefined && named !== layer) {
    throw new EngineError('DICTIONARY_INVALID', `${what} is "${name}" (layer ${named}) but it is used for layer ${layer}.`);
  }
  return f(layer);
}
