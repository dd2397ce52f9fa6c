/**
 * Attribution graphs by the circuit-tracing method, on ONNX graphs the engine builds: the public API.
 *
 * - attribute(bundle, dictionary, prompt | ids, options, { onProgress, signal }) → AttributionGraph
 * - intervene(bundle, dictionary, prompt | ids, interventions, options) → changed predictions
 * - pruneGraph / computeInfluence / graphScores: pure functions of an AttributionGraph
 */
export { attribute, computeAttribution, toAttributionGraph } from './attribute';
export type { AttributeContext, AttributeOptions, AttributionStage, RawAttribution } from './attribute';
export { attributionEngine, createEngine } from './engine';
export type { AttributionEngine, EngineOptions } from './engine';
export { computeInfluence, graphScores, pruneGraph } from './graph-ops';
export { intervene, interveneWith } from './intervene';
export type { AppliedIntervention, FeatureChange, FeatureIntervention, InterveneOptions, InterventionMode, InterventionResult } from './intervene';
export type { CustomTarget } from './targets';
export type { GraphScores } from './scores';
export type * from './types';
