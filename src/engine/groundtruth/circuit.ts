/**
 * circuit.json: the ground truth a compiled model ships with (tools/compile/compile.py writes it).
 *
 * Variables: `embedding` and `logit` variables name a token; a `feature` variable is computed by the MLP
 * of `layer`, lives at the position its `role` names in each prompt, and writes the unit `direction`.
 * Each prompt lists its role positions, the variables active in it (with their positions) and the edges
 * between them; an edge whose `via` is "qk" acts through an attention pattern, which attribution graphs
 * (attention frozen) cannot show, so the scoreboard counts those apart.
 *
 * The file is data from disk: every field is checked and copied, sizes are bounded, nothing in it runs.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../errors';

export type VariableKind = 'embedding' | 'feature' | 'logit';

export interface GroundTruthVariable {
  id: string;
  kind: VariableKind;
  description: string;
  /** embedding / logit: the token. */
  token?: string;
  /** feature: the MLP layer that computes it. */
  layer?: number;
  /** feature: the position role (a key of each prompt's `positions`). */
  role?: string;
  /** feature: the unit direction it writes into the residual stream, [d_model]. */
  direction?: Float32Array;
}

export interface GroundTruthEdge {
  source: string;
  target: string;
  via: string;
}

export interface GroundTruthPrompt {
  prompt: string;
  answer: string;
  positions: Record<string, number>;
  /** Variable id → position (BOS = 0). */
  active: Map<string, number>;
  edges: GroundTruthEdge[];
}

export interface Circuit {
  model: string;
  description: string;
  nLayers: number;
  dModel: number;
  variables: Map<string, GroundTruthVariable>;
  prompts: GroundTruthPrompt[];
}

const MAX_BYTES = 32 * 1024 * 1024;

function bad(file: string, what: string): never {
  throw new EngineError('CONFIG_INVALID', `${file}: ${what}.`, 'Rebuild it with tools/compile/compile.py.');
}

function obj(x: unknown, file: string, what: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) bad(file, `${what} is not an object`);
  return x as Record<string, unknown>;
}

function str(x: unknown, file: string, what: string): string {
  if (typeof x !== 'string') bad(file, `${what} is not a string`);
  return x;
}

function int(x: unknown, file: string, what: string, min = 0): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min) bad(file, `${what} is not an integer ≥ ${min}`);
  return x;
}

/** Reads and checks `dir/circuit.json`. */
export function loadCircuit(dir: string): Circuit {
  const file = join(dir, 'circuit.json');
  if (!existsSync(file)) throw new EngineError('MODEL_NOT_FOUND', `${dir} has no circuit.json.`, 'Ground truth comes with the compiled models in models/compiled/ (tools/compile/compile.py).');
  if (statSync(file).size > MAX_BYTES) bad(file, `larger than ${MAX_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    bad(file, `not valid JSON (${(e as Error).message.slice(0, 200)})`);
  }
  const top = obj(raw, file, 'the file');
  const nLayers = int(top.n_layers, file, 'n_layers', 1);
  const dModel = int(top.d_model, file, 'd_model', 1);
  const variables = new Map<string, GroundTruthVariable>();
  for (const [id, v] of Object.entries(obj(top.variables, file, 'variables'))) {
    const o = obj(v, file, `variable ${JSON.stringify(id)}`);
    const kind = o.kind;
    if (kind !== 'embedding' && kind !== 'feature' && kind !== 'logit') bad(file, `variable ${JSON.stringify(id)} has kind ${JSON.stringify(kind)}`);
    const gv: GroundTruthVariable = { id, kind, description: typeof o.description === 'string' ? o.description : '' };
    if (kind === 'feature') {
      gv.layer = int(o.layer, file, `variable ${id} layer`);
      if (gv.layer >= nLayers) bad(file, `variable ${id} layer ${gv.layer} ≥ n_layers ${nLayers}`);
      gv.role = str(o.role, file, `variable ${id} role`);
      const dir = o.direction;
      if (!Array.isArray(dir) || dir.length !== dModel || dir.some((x) => typeof x !== 'number' || !Number.isFinite(x))) bad(file, `variable ${id} direction is not ${dModel} finite numbers`);
      gv.direction = Float32Array.from(dir as number[]);
    } else {
      gv.token = str(o.token, file, `variable ${id} token`);
    }
    variables.set(id, gv);
  }
  const prompts: GroundTruthPrompt[] = [];
  const list = top.prompts;
  if (!Array.isArray(list) || !list.length) bad(file, 'prompts is not a non-empty list');
  list.forEach((p, i) => {
    const o = obj(p, file, `prompt ${i}`);
    const positions: Record<string, number> = {};
    for (const [role, pos] of Object.entries(obj(o.positions, file, `prompt ${i} positions`))) positions[role] = int(pos, file, `prompt ${i} position ${role}`);
    const active = new Map<string, number>();
    for (const [id, pos] of Object.entries(obj(o.active, file, `prompt ${i} active`))) {
      if (!variables.has(id)) bad(file, `prompt ${i} names an unknown variable ${JSON.stringify(id)}`);
      active.set(id, int(pos, file, `prompt ${i} active ${id}`));
    }
    if (!Array.isArray(o.edges)) bad(file, `prompt ${i} edges is not a list`);
    const edges = (o.edges as unknown[]).map((e, k) => {
      if (!Array.isArray(e) || e.length !== 3) bad(file, `prompt ${i} edge ${k} is not [source, target, via]`);
      const [s, t, via] = e.map((x, j) => str(x, file, `prompt ${i} edge ${k}[${j}]`));
      if (!active.has(s) || !active.has(t)) bad(file, `prompt ${i} edge ${s} → ${t} joins a variable that is not active in it`);
      return { source: s, target: t, via };
    });
    for (const v of variables.values()) {
      if (v.kind === 'feature' && !(v.role! in positions)) bad(file, `prompt ${i} has no position for role ${JSON.stringify(v.role)}`);
    }
    prompts.push({ prompt: str(o.prompt, file, `prompt ${i} text`), answer: str(o.answer, file, `prompt ${i} answer`), positions, active, edges });
  });
  return { model: typeof top.model === 'string' ? top.model : dir, description: typeof top.description === 'string' ? top.description : '', nLayers, dModel, variables, prompts };
}
