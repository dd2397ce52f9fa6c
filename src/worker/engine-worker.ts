/**
 * The engine worker's entry (built to dist/engine-worker.js): serves the EngineMethods RPC on the
 * parent port. Everything heavy — model loading, ONNX sessions, attribution — happens on this thread.
 */
import { parentPort } from 'node:worker_threads';
import { listModelDictionaries, loadEngine, validateModelDir } from './engine-adapter';
import { EngineService } from './engine-service';
import { readPromptVocabulary } from '../engine/bundle/vocabulary';
import { serve, type Port } from './rpc-endpoints';
import type { Handlers } from '../shared/rpc';

export function handlersFor(service: EngineService): Handlers {
  return {
    loadModel: (a, c) => service.loadModel(a, c),
    validateModel: (a, c) => service.validateModel(a, c),
    forward: (a, c) => service.forward(a, c),
    logitLens: (a, c) => service.logitLens(a, c),
    featureActivations: (a, c) => service.featureActivations(a, c),
    featureCard: (a) => service.featureCard(a),
    analyze: (a, c) => service.analyze(a, c),
    prune: (a) => service.prune(a),
    intervene: (a, c) => service.intervene(a, c),
    circuitTests: (a, c) => service.circuitTests(a, c),
    verify: (a, c) => service.verify(a, c),
    qk: (a, c) => service.qk(a, c),
    buildDashboards: (a, c) => service.buildDashboards(a, c),
    searchFeatures: (a) => service.searchFeatures(a),
    // Only tokenizer.json is read: the editor's word checks must not wait for (or trigger) a model load.
    vocabulary: (a) => readPromptVocabulary(a.modelPath),
    listDictionaries: (a, c) => listModelDictionaries(a.modelPath, c),
    decompositions: (a, c) => service.decompositions(a, c),
    shutdown: () => service.dispose(),
  };
}

if (parentPort) {
  const service = new EngineService(loadEngine, validateModelDir);
  serve(parentPort satisfies Port, handlersFor(service));
}
