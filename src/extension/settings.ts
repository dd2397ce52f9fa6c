/**
 * Settings under `circuitInspector.*`, and workspace trust: in a restricted (untrusted) workspace a model
 * or transcoder path is never taken from workspace or folder settings — a repository must not be able to
 * make the extension load files of its choosing. `resolveTrustedPath` is pure and unit-tested.
 */
import type { ProviderSetting } from '../shared/rpc';
import { DEFAULT_LABEL_MIN_F1 } from '../shared/label-text';
import { ANALYSIS_DEFAULTS as D } from '../shared/settings-defaults';

export const SECTION = 'circuitInspector';

export interface Inspected<T> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

export interface PathChoice {
  value?: string;
  /** Where it came from, for the status bar tooltip. */
  from: 'default' | 'user' | 'workspace';
  /** A workspace value that was ignored because the workspace is not trusted. */
  ignoredWorkspaceValue?: string;
}

export function resolveTrustedPath(insp: Inspected<string> | undefined, trusted: boolean): PathChoice {
  const ws = insp?.workspaceFolderValue || insp?.workspaceValue;
  if (ws && trusted) return { value: ws, from: 'workspace' };
  const user = insp?.globalValue;
  const base: PathChoice = user ? { value: user, from: 'user' } : { value: insp?.defaultValue || undefined, from: 'default' };
  if (ws && !trusted) base.ignoredWorkspaceValue = ws;
  return base;
}

/**
 * `circuitInspector.dictionary`: a dictionary folder of the model folder, by name. Only a plain folder
 * name is honoured (no separators, no `..`), so the setting never reaches outside the model folder;
 * trust applies as for paths.
 */
export function resolveDictionaryName(insp: Inspected<string> | undefined, trusted: boolean): PathChoice {
  const c = resolveTrustedPath(insp, trusted);
  const v = c.value?.trim();
  return { ...c, value: v && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(v) && v !== '..' ? v : undefined };
}

export const PROVIDERS: ProviderSetting[] = ['auto', 'cpu', 'cuda', 'tensorrt', 'webgpu', 'dml', 'coreml'];

export interface AnalysisSettings {
  nodeThreshold: number;
  edgeThreshold: number;
  maxFeatureNodes: number;
  batchSize: number;
}

function clamp(x: unknown, lo: number, hi: number, dflt: number): number {
  return typeof x === 'number' && Number.isFinite(x) ? Math.min(hi, Math.max(lo, x)) : dflt;
}

/** Reads analysis settings with their documented defaults, clamped to sensible ranges. */
export function analysisSettings(get: (key: string) => unknown): AnalysisSettings {
  return {
    nodeThreshold: clamp(get('nodeThreshold'), 0, 1, D.nodeThreshold),
    edgeThreshold: clamp(get('edgeThreshold'), 0, 1, D.edgeThreshold),
    maxFeatureNodes: Math.round(clamp(get('maxFeatureNodes'), 1, 100000, D.maxFeatureNodes)),
    batchSize: Math.round(clamp(get('batchSize'), 1, 4096, D.batchSize)),
  };
}

/** `circuitInspector.labels.minF1`: labels scoring below it read "unlabelled (best guess: …)". */
export function labelMinF1Setting(get: (key: string) => unknown): number {
  return clamp(get('labels.minF1'), 0, 1, DEFAULT_LABEL_MIN_F1);
}

export function providerSetting(x: unknown): ProviderSetting {
  return PROVIDERS.includes(x as ProviderSetting) ? (x as ProviderSetting) : 'auto';
}
