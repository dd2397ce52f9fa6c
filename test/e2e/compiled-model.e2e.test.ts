/**
 * A compiled model (weights set by hand, its circuit known by construction: models/compiled/two-hop and
 * its circuit.json) opened in the editor through the model-path setting: Analyze Prompt on its two-hop
 * prompt draws the ground-truth circuit — every variable circuit.json marks active appears as a node at
 * its position, and every ground-truth edge between them is one of the panel's connections.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launchVsCode, type VsCode } from './harness';
import { analyzeActiveFile, openNodeList, waitForActivation, type GraphSummary } from './circuit';

const MODEL = resolve(__dirname, '..', '..', 'models', 'compiled', 'two-hop');
interface CircuitPrompt {
  prompt: string;
  answer: string;
  active: Record<string, number>;
  edges: [string, string, string][];
}
interface Circuit {
  variables: Record<string, { kind: string; layer?: number; description: string }>;
  prompts: CircuitPrompt[];
}
const circuit = JSON.parse(readFileSync(join(MODEL, 'circuit.json'), 'utf8')) as Circuit;
const truth = circuit.prompts.find((p) => p.prompt.startsWith('Dallas'))!;
const FILE = 'two-hop-check.prompt';
let vs: VsCode;
let summary: GraphSummary;

before(async () => {
  vs = await launchVsCode({ name: 'compiled-model', files: { [FILE]: `${truth.prompt}\n` }, settings: { 'circuitInspector.modelPath': MODEL } });
  await waitForActivation(vs, 120_000, /two-hop/);
  await vs.openFile(FILE);
  summary = await vs.step('analyze', () => analyzeActiveFile(vs));
});
after(async () => {
  await vs?.close();
});

/** The panel's node for a feature variable: the feature row at its layer and position whose label the dictionary gave it. */
function featureRows(variable: string) {
  const v = circuit.variables[variable];
  const pos = truth.active[variable];
  // Labels of the compiled dictionaries are the variable's description up to its parenthesis.
  const label = v.description.replace(/\s*\(.*$/, '');
  return vs.webview('view').locator(`[data-testid="node-row"][data-kind="feature"][data-node-id^="${v.layer}_"][data-node-id$="_${pos}"]`, { hasText: label });
}

test('the compiled two-hop model answers with the ground truth and its graph holds every active variable', async () => {
  assert.ok(summary.feature > 0, summary.text);
  const view = vs.webview('view');
  await openNodeList(view);
  const logit = view.locator('[data-testid="node-row"][data-kind="logit"]').first();
  assert.match(await logit.innerText(), new RegExp(truth.answer));
  for (const name of Object.keys(truth.active).filter((k) => circuit.variables[k].kind === 'feature')) {
    assert.ok((await featureRows(name).count()) > 0, `no node for ${name} (${circuit.variables[name].description}) at position ${truth.active[name]}`);
  }
  await vs.screenshot('two-hop-graph');
});

test('each ground-truth edge between features is a connection of its target node, with a positive weight', async () => {
  const view = vs.webview('view');
  const featureEdges = truth.edges.filter(([s, t]) => circuit.variables[s]?.kind === 'feature' && circuit.variables[t]?.kind === 'feature');
  assert.ok(featureEdges.length > 0);
  for (const [source, target] of featureEdges) {
    await openNodeList(view);
    await featureRows(target).first().click();
    const incoming = view.locator('[data-testid="connections-in"] [data-testid="connection-row"]');
    await incoming.first().waitFor();
    const sourceLabel = circuit.variables[source].description.replace(/\s*\(.*$/, '');
    const row = incoming.filter({ hasText: sourceLabel }).first();
    assert.ok((await row.count()) > 0, `${target} has no incoming connection from ${source}: ${(await incoming.allInnerTexts()).join(' | ')}`);
    assert.ok(Number(await row.getAttribute('data-weight')) > 0, `${source} → ${target} is not excitatory`);
  }
  await vs.screenshot('two-hop-connections');
});
