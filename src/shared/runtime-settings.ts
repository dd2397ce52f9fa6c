/**
 * The execution-provider and precision settings, as names: what the extension's settings, the worker's
 * RPC, the CLI and the engine's runtime (src/engine/runtime.ts, which chooses and falls back) all accept.
 * Pure data, so the shared RPC types never import the engine.
 */
export type ProviderName = 'cpu' | 'cuda' | 'tensorrt' | 'webgpu' | 'dml' | 'coreml';
export type ProviderSetting = 'auto' | ProviderName;
export type PrecisionSetting = 'auto' | 'f32' | 'f16';

export const PROVIDER_SETTINGS: readonly ProviderSetting[] = ['auto', 'cpu', 'cuda', 'tensorrt', 'webgpu', 'dml', 'coreml'];
