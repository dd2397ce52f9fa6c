/**
 * `circuit-inspector analyze`: the attribution graph of a prompt. Prints a summary (nodes by kind,
 * edges, replacement and completeness scores, the target logits, the strongest paths into the top
 * logit with feature labels) and writes the graph as Neuronpedia graph JSON.
 */
import { writeFileSync } from 'node:fs';
import { topPaths } from '../engine/attribution/paths';
import type { AttributionGraph, AttributionNode } from '../engine/attribution/types';
import { serializeGraphFile, toGraphFile } from '../engine/graph-file';
import { ModelSession, requireDictionaryDir } from '../engine/session';
import { ANALYSIS_DEFAULTS } from '../shared/settings-defaults';
import {
  fractionOption, intOption, modelOption, outputOption, parseFlags, pathOption, promptOption, reportProviderFallback, runtimeOptions, RUNTIME_FLAGS,
  writeOutput, type CliCommand,
} from './args';

const D = ANALYSIS_DEFAULTS;

const usage = `Usage: circuit-inspector analyze [--model DIR] (--prompt-file F | --prompt TEXT | --ids 1,2,3) [options]

  --model DIR              Hugging Face model folder (default: the embedded models/toy-llama)
  --transcoders DIR        transcoder set, CLT, or a residual-stream SAE for an SAE graph
                           (default: the model folder's transcoders/)
  --prompt-file F          read the prompt from a file (one trailing newline is dropped)
  --prompt TEXT            the prompt itself
  --ids LIST               token ids instead of a prompt
  --out G.json             write the graph (Neuronpedia graph JSON) here
  --node-threshold X       cumulative node influence kept by pruning (default ${D.nodeThreshold})
  --edge-threshold X       cumulative edge influence kept by pruning (default ${D.edgeThreshold})
  --max-feature-nodes N    visit at most N features, chosen by partial influence (default ${D.maxFeatureNodes})
  --batch-size N           targets per backward sweep (default ${D.batchSize})
  --max-logits N           at most N target logits (default 10)
  --paths N                strongest paths into the top logit to print (default 5)
  --json                   print the summary as JSON
  --provider NAME          execution provider: auto, cpu, cuda, webgpu, … (default auto)
  --threads N              onnxruntime intra-op threads
  --cache-dir DIR          where built ONNX graphs are cached`;

/** The dictionary folder: --transcoders ("" refused), else the model folder's transcoders/ (the session's rule). */
export function dictionaryDir(flag: unknown, modelDir: string): string {
  return requireDictionaryDir(pathOption(flag, 'transcoders'), modelDir);
}

export function describeNode(n: AttributionNode, tokens: AttributionGraph['tokens']): string {
  const at = `@${n.position} ${JSON.stringify(tokens[n.position]?.text ?? '')}`;
  switch (n.kind) {
    case 'embedding':
      return `Emb ${at}`;
    case 'error':
      return `Err L${n.layer} ${at}`;
    case 'logit':
      return `Logit ${JSON.stringify(n.token ?? '')}`;
    case 'feature':
      return `L${n.layer}/F${n.index}${n.label ? ` "${n.label}"` : ''} ${at} (act ${n.activation.toFixed(2)})`;
  }
}

export const command: CliCommand = {
  summary: 'Compute the attribution graph of a prompt, print a summary and write graph JSON.',
  usage,
  async run(argv, io) {
    const a = parseFlags(argv, {
      model: { type: 'string' },
      transcoders: { type: 'string' },
      'prompt-file': { type: 'string' },
      prompt: { type: 'string' },
      ids: { type: 'string' },
      out: { type: 'string' },
      'node-threshold': { type: 'string' },
      'edge-threshold': { type: 'string' },
      'max-feature-nodes': { type: 'string' },
      'batch-size': { type: 'string' },
      'max-logits': { type: 'string' },
      paths: { type: 'string' },
      json: { type: 'boolean' },
      ...RUNTIME_FLAGS,
    });
    const prompt = promptOption(a);
    const nodeThreshold = fractionOption(a['node-threshold'], 'node-threshold', D.nodeThreshold);
    const edgeThreshold = fractionOption(a['edge-threshold'], 'edge-threshold', D.edgeThreshold);
    const maxFeatureNodes = a['max-feature-nodes'] === undefined ? undefined : intOption(a['max-feature-nodes'], 'max-feature-nodes', 1, 0);
    const batchSize = intOption(a['batch-size'], 'batch-size', 1, D.batchSize);
    const maxNLogits = intOption(a['max-logits'], 'max-logits', 1, 10);
    const nPaths = intOption(a.paths, 'paths', 0, 5);
    const runtime = runtimeOptions(a);
    const outFile = outputOption(a.out, 'out');
    pathOption(a.transcoders, 'transcoders');

    const t0 = performance.now();
    const modelDir = modelOption(a.model);
    const session = await ModelSession.open({ model: modelDir, dictionaries: [dictionaryDir(a.transcoders, modelDir)], runtime });
    const bundle = session.bundle;
    const dictionary = session.requireDictionary('An attribution graph');
    let lastStage = '';
    const unsubscribe = reportProviderFallback(io, runtime.provider);
    let graph: AttributionGraph;
    try {
      ({ graph } = await session.analyze(prompt, { nodeThreshold, edgeThreshold, maxFeatureNodes, batchSize, maxNLogits }, {
        onProgress(stage, f) {
          if (!a.json && (stage !== lastStage || f === 1)) io.progress(`\r${stage} ${(f * 100).toFixed(0)}%   `);
          lastStage = stage;
        },
      }));
    } finally {
      unsubscribe();
    }
    if (!a.json) io.progress('\r');
    const ms = performance.now() - t0;

    if (outFile) {
      const text = serializeGraphFile(toGraphFile(graph));
      writeOutput(outFile, 'The output file', () => writeFileSync(outFile, text));
    }
    const count = (k: AttributionNode['kind']) => graph.nodes.filter((n) => n.kind === k).length;
    const top = graph.targets[0];
    const paths = top ? topPaths(graph, top.node, nPaths) : [];
    const summary = {
      model: bundle.spec.name,
      dictionary: dictionary.path,
      ...(graph.method ? { method: graph.method } : {}),
      tokens: graph.tokens.map((t) => t.text),
      nodes: { total: graph.nodes.length, features: count('feature'), errors: count('error'), embeddings: count('embedding'), logits: count('logit') },
      edges: graph.edges.weight.length,
      scores: graph.scores,
      targets: graph.targets.map((t) => ({ token: t.token, tokenId: t.tokenId, probability: t.probability })),
      paths: paths.map((p) => ({ score: p.score, nodes: p.nodes.map((i) => describeNode(graph.nodes[i], graph.tokens)) })),
      out: outFile,
      seconds: Math.round(ms) / 1000,
    };
    if (a.json) {
      io.out(JSON.stringify(summary, null, 2));
      return 0;
    }
    io.out(`${summary.model} with ${dictionary.name}: ${graph.tokens.length} tokens ${graph.tokens.map((t) => JSON.stringify(t.text)).join(' ')}`);
    if (graph.method) io.out(graph.method);
    io.out(`Pruned graph (node ${nodeThreshold}, edge ${edgeThreshold}): ${summary.nodes.total} nodes (${summary.nodes.features} features, ${summary.nodes.errors} errors, ${summary.nodes.embeddings} embeddings, ${summary.nodes.logits} logits), ${summary.edges} edges`);
    if (graph.scores) io.out(`Replacement score ${graph.scores.replacement.toFixed(4)}, completeness score ${graph.scores.completeness.toFixed(4)}`);
    io.out(`Targets: ${graph.targets.map((t) => `${JSON.stringify(t.token)} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`);
    if (paths.length && top) {
      io.out(`Strongest paths into ${JSON.stringify(top.token)}:`);
      paths.forEach((p, i) => io.out(`${String(i + 1).padStart(3)}. [${p.score.toExponential(2)}] ${p.nodes.map((n) => describeNode(graph.nodes[n], graph.tokens)).join(' → ')}`));
    }
    if (outFile) io.out(`Graph written to ${outFile}`);
    io.out(`${summary.seconds} s`);
    return 0;
  },
};
