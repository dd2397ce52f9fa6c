/**
 * `circuit-inspector forward`: tokenise a prompt, run the forward pass, print the tokens and the top-K
 * next-token predictions. `--json` prints the same machine-readably; `--hooks FILE` also writes every
 * hook tensor to a safetensors file (for comparisons with other implementations).
 */
import type { TokenInfo } from '../engine/api';
import { encodePrompt, loadModelBundle } from '../engine/bundle/index';
import { writeSafetensors, type TensorToWrite } from '../engine/bundle/safetensors';
import { ForwardRunner, tokensFromIds, topPredictions } from '../engine/forward';
import {
  idsOption, intOption, modelOption, outputOption, parseFlags, precisionOption, reportProviderFallback, runtimeOptions, RUNTIME_FLAGS, UsageError,
  writeOutput, type CliCommand,
} from './args';

const usage = `Usage: circuit-inspector forward [--model DIR] (--prompt TEXT | --ids 1,2,3) [options]

  --model DIR       Hugging Face model folder (default: the embedded models/toy-llama)
  --prompt TEXT     the prompt (tokenised with the model's tokenizer, BOS as its post-processor adds)
  --ids LIST        token ids instead of a prompt, comma-separated
  --top K           how many next-token predictions to show (default 10)
  --json            print JSON: model, tokens, ids, top predictions, timings
  --hooks FILE      also write every hook tensor (and the logits) to FILE as safetensors (F32)
  --provider NAME   execution provider: auto, cpu, cuda, webgpu, … (default auto)
  --precision P     auto, f32 or f16 (f16 only on GPU providers; default auto)
  --threads N       onnxruntime intra-op threads (default: onnxruntime decides)
  --cache-dir DIR   where built ONNX graphs are cached`;

export const command: CliCommand = {
  summary: 'Run a prompt through a model and print its next-token predictions.',
  usage,
  async run(argv, io) {
    const a = parseFlags(argv, {
      model: { type: 'string' },
      prompt: { type: 'string' },
      ids: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
      hooks: { type: 'string' },
      precision: { type: 'string' },
      ...RUNTIME_FLAGS,
    });
    const ids = idsOption(a.ids);
    if (ids && a.prompt !== undefined) throw new UsageError('give either --prompt or --ids, not both');
    if (!ids && a.prompt === undefined) throw new UsageError('--prompt TEXT (or --ids) is required');
    const k = intOption(a.top, 'top', 1, 10, 1000);
    const runtime = runtimeOptions(a);
    const precision = precisionOption(a.precision);
    const hooksFile = outputOption(a.hooks, 'hooks');

    const t0 = performance.now();
    const bundle = await loadModelBundle(modelOption(a.model));
    const t1 = performance.now();
    // Tokenised (and checked against the context) before a session exists: a prompt that cannot run
    // must not cost a graph build, and onnxruntime must never see it.
    const tokens: TokenInfo[] = ids ? tokensFromIds(bundle, ids) : encodePrompt(bundle, String(a.prompt));
    const unsubscribe = reportProviderFallback(io, runtime.provider);
    let runner: ForwardRunner;
    try {
      runner = await ForwardRunner.create(bundle, { ...runtime, precision });
    } finally {
      unsubscribe();
    }
    const t2 = performance.now();
    const cache = await runner.runTokens(tokens);
    const t3 = performance.now();
    const V = bundle.spec.vocabSize;
    const T = tokens.length;
    const top = topPredictions(bundle, cache.logits.data.subarray((T - 1) * V, T * V), k);

    if (hooksFile) {
      const out: Record<string, TensorToWrite> = {};
      for (const [name, h] of cache.hooks) out[name] = { dtype: 'F32', shape: h.shape, data: h.data };
      writeOutput(hooksFile, 'The hooks file', () => writeSafetensors(hooksFile, out, { ids: JSON.stringify(tokens.map((t) => t.id)), model: bundle.spec.name }));
    }
    const timings = {
      loadMs: round(t1 - t0),
      buildMs: round(runner.timings.buildMs),
      sessionMs: round(runner.timings.sessionMs),
      graphCacheHit: runner.timings.cacheHit,
      forwardMs: round(t3 - t2),
    };
    await runner.dispose();

    if (a.json) {
      io.out(JSON.stringify({
        model: { name: bundle.spec.name, family: bundle.spec.family, dir: bundle.dir, layers: bundle.spec.nLayers, dModel: bundle.spec.dModel, vocabSize: V, weightBytes: bundle.weightBytes },
        provider: runner.provider,
        precision: runner.precision,
        tokens,
        ids: tokens.map((t) => t.id),
        top,
        ...(hooksFile ? { hooksFile } : {}),
        timings,
      }, null, 2));
      return 0;
    }
    const s = bundle.spec;
    io.out(`${s.name} (${s.family}, ${s.nLayers} layers, d_model ${s.dModel}, ${formatBytes(bundle.weightBytes)}) on ${runner.provider} (${runner.precision})`);
    io.out(`${T} tokens: ${tokens.map((t) => `${JSON.stringify(t.text)}${t.special ? '*' : ''}`).join(' ')}`);
    io.out(`Top ${top.length} next tokens:`);
    const w = Math.max(...top.map((p) => JSON.stringify(p.token).length));
    top.forEach((p, i) => {
      io.out(`${String(i + 1).padStart(3)}. ${JSON.stringify(p.token).padEnd(w)}  ${(p.prob * 100).toFixed(2).padStart(6)}%  logit ${p.logit.toFixed(3)}  (id ${p.tokenId})`);
    });
    if (hooksFile) io.out(`Hooks written to ${hooksFile}`);
    io.out(`load ${timings.loadMs} ms, graph ${timings.graphCacheHit ? 'cached' : `built in ${timings.buildMs} ms`}, session ${timings.sessionMs} ms, forward ${timings.forwardMs} ms`);
    return 0;
  },
};

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024).toFixed(1)} KB`;
}
