/**
 * onnxruntime-node sessions: the one place that chooses an execution provider, falls back honestly,
 * and reports why.
 *
 * `auto` tries what the platform's binary can offer, in the order that is usually fastest there, and
 * ends at CPU. A provider that fails when the session is created, or on its first run, is dropped and
 * the next one tried; every fallback reason is kept (and sent to `onRuntimeMessage` listeners, which the
 * extension forwards to its output channel) so the user can see exactly why the GPU was not used.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as ort from 'onnxruntime-node';
import { EngineError } from './errors';
import { bindInputs } from './onnx/bind-constants';
import type { PrecisionSetting, ProviderName, ProviderSetting } from '../shared/runtime-settings';

export { PROVIDER_SETTINGS, type PrecisionSetting, type ProviderName, type ProviderSetting } from '../shared/runtime-settings';

export interface RuntimeOptions {
  provider?: ProviderSetting;
  /** Intra-op threads; 0 or undefined lets onnxruntime decide. */
  threads?: number;
  /** 'auto' = f16 on GPU providers that run it well, f32 on CPU. */
  precision?: PrecisionSetting;
}

export interface ProviderAttempt {
  provider: ProviderName;
  ok: boolean;
  /** Why it was skipped or failed; absent when it worked. */
  reason?: string;
}

type Listener = (message: string) => void;
const listeners = new Set<Listener>();

/** Subscribes to provider-choice and fallback messages (one line each). Returns an unsubscribe function. */
export function onRuntimeMessage(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const said = new Set<string>();

/** Each distinct message once per process: a provider that is missing is missing for every session. */
function emit(message: string): void {
  if (said.has(message)) return;
  said.add(message);
  for (const l of listeners) l(message);
}

/** Providers whose binaries ship in onnxruntime-node for this platform, per its own listing. */
export function bundledProviders(): ProviderName[] {
  const out: ProviderName[] = [];
  const names = new Set<string>();
  for (const b of ort.listSupportedBackends()) names.add(b.name);
  for (const p of ['cpu', 'webgpu', 'dml', 'coreml', 'cuda', 'tensorrt'] as ProviderName[]) if (names.has(p)) out.push(p);
  return out;
}

/** Preference order for `auto` on a platform: dedicated vendor APIs first, WebGPU next, CPU last. */
export function autoOrder(platform: NodeJS.Platform = process.platform): ProviderName[] {
  switch (platform) {
    case 'win32':
      return ['cuda', 'dml', 'webgpu', 'cpu'];
    case 'darwin':
      return ['coreml', 'webgpu', 'cpu'];
    default:
      return ['cuda', 'webgpu', 'cpu'];
  }
}

/** Reasons a provider cannot be tried at all on this machine (before asking onnxruntime). */
export function unavailableReason(provider: ProviderName, platform: NodeJS.Platform = process.platform): string | undefined {
  if (provider === 'cpu') return undefined;
  if (provider === 'dml' && platform !== 'win32') return 'DirectML exists only on Windows';
  if (provider === 'coreml' && platform !== 'darwin') return 'CoreML exists only on macOS';
  if ((provider === 'cuda' || provider === 'tensorrt') && platform === 'darwin') return 'CUDA is not available on macOS';
  const listed = safeBundled();
  if (!listed.includes(provider) && provider !== 'cuda' && provider !== 'tensorrt') {
    return `this onnxruntime-node build for ${platform}/${process.arch} has no ${provider} provider`;
  }
  if (provider === 'webgpu' && platform === 'linux' && !vulkanLoaderPresent()) {
    return 'no Vulkan loader (libvulkan.so.1) is installed; WebGPU on Linux runs on Vulkan (Debian/Ubuntu: apt-get install libvulkan1, plus the GPU vendor\'s Vulkan driver)';
  }
  if (provider === 'cuda' || provider === 'tensorrt') {
    const lib = provider === 'cuda' ? 'libonnxruntime_providers_cuda' : 'libonnxruntime_providers_tensorrt';
    if (!providerLibraryPresent(lib)) {
      return `${lib} is not installed beside onnxruntime-node (it is downloaded by onnxruntime-node's install script with ONNXRUNTIME_NODE_INSTALL=cuda12, which offline installs skip), or NVIDIA's CUDA 12 / cuDNN 9${provider === 'tensorrt' ? ' / TensorRT' : ''} libraries are missing`;
    }
  }
  return undefined;
}

/** Providers whose device could not be opened at all (no adapter, no driver): not retried per session. */
const brokenDevices = new Map<ProviderName, string>();

function deviceFailure(message: string): boolean {
  return /adapter|driver|no (cuda|gpu)|device/i.test(message);
}

function safeBundled(): ProviderName[] {
  try {
    return bundledProviders();
  } catch {
    return ['cpu'];
  }
}

/** Whether the dynamic loader can find libvulkan.so.1 (checked where distributions put it, and LD_LIBRARY_PATH). */
export function vulkanLoaderPresent(): boolean {
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu',
    '/usr/lib64', '/usr/lib', '/lib64', '/lib', '/usr/local/lib',
  ];
  return dirs.some((d) => existsSync(`${d}/libvulkan.so.1`));
}

function providerLibraryPresent(prefix: string): boolean {
  try {
    const bindingDir = dirname(require.resolve(`onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`));
    const here = readdirSync(bindingDir);
    if (here.some((f) => f.startsWith(prefix))) return true;
  } catch {
    // resolve fails when bundled differently; fall through to the loader path
  }
  const ldPath = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  return ldPath.some((d) => existsSync(d) && readdirSync(d).some((f) => f.startsWith(prefix)));
}

/** The providers to try, in order, for a setting. An explicit provider still falls back to CPU. */
export function candidates(setting: ProviderSetting = 'auto', platform: NodeJS.Platform = process.platform): ProviderName[] {
  if (setting === 'auto') return autoOrder(platform);
  return setting === 'cpu' ? ['cpu'] : [setting, 'cpu'];
}

/** f16 where the provider has fast half kernels; CPU stays f32 (its f16 kernels are few and slow). */
export function resolvePrecision(setting: PrecisionSetting | undefined, provider: ProviderName): 'f32' | 'f16' {
  if (setting === 'f32' || setting === 'f16') return setting === 'f16' && provider === 'cpu' ? 'f32' : setting;
  return provider === 'cpu' ? 'f32' : 'f16';
}

function epConfig(p: ProviderName): ort.InferenceSession.ExecutionProviderConfig {
  switch (p) {
    case 'cuda':
      return { name: 'cuda' };
    case 'tensorrt':
      return { name: 'tensorrt' };
    case 'webgpu':
      return { name: 'webgpu' } as ort.InferenceSession.ExecutionProviderConfig;
    case 'dml':
      return { name: 'dml' };
    case 'coreml':
      return { name: 'coreml' };
    default:
      return 'cpu';
  }
}

/** A model, or a function that builds it in the precision the chosen provider runs best. */
/** A model, or a function that writes it for the precision (and provider) the runtime settled on. */
export type ModelSource = Uint8Array | string | ((precision: 'f32' | 'f16', provider: ProviderName) => Uint8Array | string);

function materialise(model: ModelSource, p: ProviderName, opts: RuntimeOptions): { bytes: Uint8Array | string; precision: 'f32' | 'f16' } {
  if (typeof model !== 'function') return { bytes: model, precision: 'f32' };
  const precision = resolvePrecision(opts.precision, p);
  return { bytes: model(precision, p), precision };
}

/**
 * A session that knows its provider and, if the provider breaks on the first run, rebuilds itself on the
 * next candidate and retries, so a broken GPU driver costs a message, not the analysis.
 */
export class EngineSession {
  private verified = false;

  private constructor(
    private session: ort.InferenceSession,
    public provider: ProviderName,
    /** The precision the graph was built in for this provider. */
    public precision: 'f32' | 'f16',
    /** The model as given to onnxruntime for the current provider (bytes or a file path). */
    private built: Uint8Array | string,
    private readonly model: ModelSource,
    private readonly remaining: ProviderName[],
    private readonly opts: RuntimeOptions,
    readonly attempts: ProviderAttempt[],
  ) {}

  static async create(model: ModelSource, opts: RuntimeOptions = {}): Promise<EngineSession> {
    const order = candidates(opts.provider ?? 'auto');
    const attempts: ProviderAttempt[] = [];
    for (let i = 0; i < order.length; i++) {
      const p = order[i];
      const skip = unavailableReason(p) ?? brokenDevices.get(p);
      if (skip) {
        attempts.push({ provider: p, ok: false, reason: skip });
        if (opts.provider === p || opts.provider === undefined || opts.provider === 'auto') emit(`[runtime] ${p} skipped: ${skip}`);
        continue;
      }
      try {
        const m = materialise(model, p, opts);
        const session = await open(m.bytes, p, opts);
        attempts.push({ provider: p, ok: true });
        if (i > 0) emit(`[runtime] using ${p} after: ${attempts.filter((a) => !a.ok).map((a) => `${a.provider} (${a.reason})`).join('; ')}`);
        return new EngineSession(session, p, m.precision, m.bytes, model, order.slice(i + 1), opts, attempts);
      } catch (e) {
        const reason = `session creation failed: ${firstLine(e)}`;
        if (deviceFailure(reason)) brokenDevices.set(p, reason);
        attempts.push({ provider: p, ok: false, reason });
        emit(`[runtime] ${p} ${reason}`);
      }
    }
    throw new EngineError(
      'PROVIDER_UNAVAILABLE',
      `No execution provider could run this model: ${attempts.map((a) => `${a.provider}: ${a.reason}`).join('; ')}`,
      'Set circuitInspector.executionProvider to "cpu".',
    );
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** The first reason a better provider was not used, for the status bar tooltip. */
  get fallbackReason(): string | undefined {
    const failed = this.attempts.filter((a) => !a.ok);
    return failed.length ? failed.map((a) => `${a.provider}: ${a.reason}`).join('\n') : undefined;
  }

  async run(feeds: Record<string, ort.Tensor>, fetches?: string[]): Promise<Record<string, ort.Tensor>> {
    try {
      const out = fetches ? await this.session.run(feeds, fetches) : await this.session.run(feeds);
      this.verified = true;
      return out;
    } catch (e) {
      if (isOutOfMemory(e)) {
        throw new EngineError('OUT_OF_MEMORY', `The ${this.provider} provider ran out of memory: ${firstLine(e)}`, 'Lower circuitInspector.batchSize or circuitInspector.maxFeatureNodes, or use a shorter prompt.');
      }
      if (this.verified || this.remaining.length === 0) throw e;
      // First run failed: the provider accepted the graph but cannot execute it. Move down the list.
      const reason = `first run failed: ${firstLine(e)}`;
      this.attempts.push({ provider: this.provider, ok: false, reason });
      emit(`[runtime] ${this.provider} ${reason}; falling back`);
      await this.session.release().catch(() => undefined);
      for (;;) {
        const next = this.remaining.shift();
        if (!next) throw e;
        const skip = unavailableReason(next);
        if (skip) {
          this.attempts.push({ provider: next, ok: false, reason: skip });
          continue;
        }
        try {
          const m = materialise(this.model, next, this.opts);
          this.session = await open(m.bytes, next, this.opts);
          this.provider = next;
          this.precision = m.precision;
          this.built = m.bytes;
          this.attempts.push({ provider: next, ok: true });
          return this.run(feeds, fetches);
        } catch (e2) {
          this.attempts.push({ provider: next, ok: false, reason: `session creation failed: ${firstLine(e2)}` });
        }
      }
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  /**
   * A new session of the same graph on the same provider with some inputs fixed as initializers (see
   * onnx/bind-constants.ts), or undefined when the graph cannot be rebuilt in memory.
   */
  async withConstants(constants: Record<string, ort.Tensor>): Promise<EngineSession | undefined> {
    const bound = bindInputs(this.built, constants);
    if (!bound) return undefined;
    const session = await open(bound, this.provider, this.opts);
    return new EngineSession(session, this.provider, this.precision, bound, bound, [], this.opts, [{ provider: this.provider, ok: true }]);
  }
}

async function open(model: Uint8Array | string, p: ProviderName, opts: RuntimeOptions): Promise<ort.InferenceSession> {
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: [epConfig(p)],
    graphOptimizationLevel: 'all',
    // Warnings such as "some nodes were not assigned to the preferred provider" (shape ops kept on the
    // CPU by design) would reach the user's terminal on every session; errors still surface as exceptions.
    logSeverityLevel: 3,
  };
  if (opts.threads) so.intraOpNumThreads = opts.threads;
  return typeof model === 'string' ? ort.InferenceSession.create(model, so) : ort.InferenceSession.create(model, so);
}

export async function createSession(model: ModelSource, opts: RuntimeOptions = {}): Promise<EngineSession> {
  return EngineSession.create(model, opts);
}

/** onnxruntime prefixes messages with its source location and the failed check; keep the human part. */
export function firstLine(e: unknown): string {
  let s = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  s = s.replace(/^\/?\S+\.(cc|h|cpp):\d+\s+\S.*?\bwas false\.\s*/, '').replace(/^\/?\S+\.(cc|h|cpp):\d+\s+/, '');
  if (/Failed to get a WebGPU adapter/.test(s)) s += ' (no GPU adapter: on Linux WebGPU needs a Vulkan driver and libvulkan.so.1)';
  return s.slice(0, 300);
}

function isOutOfMemory(e: unknown): boolean {
  const s = e instanceof Error ? e.message : String(e);
  return /out of memory|Failed to allocate|bad_alloc|OOM/i.test(s);
}

export { ort };
