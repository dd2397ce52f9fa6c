/**
 * NaN and Inf in weights. Checking every weight at load would read a whole multi-GB checkpoint; a
 * non-finite weight shows up in the outputs anyway, so the engine checks its outputs (logits, scores)
 * and only then looks for the culprit, naming the tensor a user can go and fix.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from './errors';
import { SafetensorsFile } from './bundle/safetensors';

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** The first tensor holding NaN or Inf among the safetensors files in `dir` (and one level below). */
export function findNonFiniteTensor(dir: string): { file: string; tensor: string; count: number } | undefined {
  const files: string[] = [];
  const scan = (d: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isFile() && n.endsWith('.safetensors')) files.push(p);
      else if (st.isDirectory() && depth > 0) scan(p, depth - 1);
    }
  };
  scan(dir, 1);
  for (const p of files) {
    let f: SafetensorsFile;
    try {
      f = SafetensorsFile.open(p);
    } catch {
      continue;
    }
    for (const [name, info] of f.tensors) {
      if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) continue;
      const v = f.readF32(name);
      let count = 0;
      for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) count++;
      if (count) return { file: p, tensor: name, count };
    }
  }
  return undefined;
}

/** Throws WEIGHTS_NOT_FINITE for non-finite `values`, naming the bad tensor in `dirs` when there is one. */
export function checkFiniteOutput(values: ArrayLike<number>, what: string, dirs: string[]): void {
  if (allFinite(values)) return;
  for (const d of dirs) {
    const bad = findNonFiniteTensor(d);
    if (bad) {
      throw new EngineError(
        'WEIGHTS_NOT_FINITE',
        `The ${what} came out NaN or infinite: tensor ${JSON.stringify(bad.tensor)} in ${bad.file} holds ${bad.count} NaN or infinite value${bad.count === 1 ? '' : 's'}.`,
        'The checkpoint is damaged; download it again.',
      );
    }
  }
  throw new EngineError(
    'WEIGHTS_NOT_FINITE',
    `The ${what} came out NaN or infinite for this input, although every weight is finite.`,
    'Values overflowed float32: check the configuration (norm epsilon, rotary settings) and any intervention values.',
  );
}
