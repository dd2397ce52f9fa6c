/**
 * What Save Graph writes, decided without 'vscode' so it is unit-tested: the file's name (one per prompt
 * block, so the blocks of a file never overwrite each other's graphs) and the local paths kept in its
 * metadata (relative to the workspace, never an absolute path of this machine).
 */
import { graphFileName } from './prompt-blocks';

/**
 * `NAME.graph.json` for a file with one prompt block (or a prompt that is no block); `NAME.K.graph.json`
 * for block K (1-based) of a file with several.
 */
export function blockGraphFileName(promptFileName: string, blockIndex: number | undefined, blockCount: number): string {
  const single = graphFileName(promptFileName);
  if (blockCount <= 1 || blockIndex === undefined || blockIndex < 0) return single;
  return single.replace(/\.graph\.json$/, `.${blockIndex + 1}.graph.json`);
}

export type LocalPathsSetting = 'relative' | 'omit';

/** Splits a path into its parts, on both separators (a Windows path read on Linux stays a path). */
function parts(p: string): string[] {
  return p.split(/[\\/]+/).filter((s) => s && s !== '.');
}

/**
 * A local path as it may appear in a shared file: relative to the first workspace folder that holds it
 * (forward slashes), or undefined when it lies outside every folder or the setting says to omit it.
 */
export function shareablePath(path: string, workspaceFolders: readonly string[], setting: LocalPathsSetting): string | undefined {
  if (setting === 'omit' || !path) return undefined;
  const p = parts(path);
  if (p.includes('..')) return undefined;
  for (const folder of workspaceFolders) {
    const f = parts(folder);
    if (f.length && p.length >= f.length && f.every((s, i) => s === p[i])) return p.slice(f.length).join('/') || '.';
  }
  return undefined;
}

/**
 * The `metadata.circuit_inspector` of a graph about to be saved: `model_path` and `dictionary` made
 * shareable (or removed); everything else as it is.
 */
export function shareableOwnMetadata<T extends { model_path?: string; dictionary?: string }>(ci: T, workspaceFolders: readonly string[], setting: LocalPathsSetting): T {
  const out = { ...ci };
  for (const k of ['model_path', 'dictionary'] as const) {
    if (out[k] === undefined) continue;
    const rel = shareablePath(out[k]!, workspaceFolders, setting);
    if (rel === undefined) delete out[k];
    else out[k] = rel;
  }
  return out;
}
