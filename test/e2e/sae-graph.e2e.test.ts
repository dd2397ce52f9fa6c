/**
 * SAE graphs from the editor: with `circuitInspector.dictionary` naming the embedded model's residual
 * SAE (what Select Dictionary… writes), Analyze Prompt draws an SAE graph in the usual side panel — its
 * features and error nodes at the SAE's site, the token embeddings and the logits — and the panel says
 * which method made it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchVsCode, type VsCode } from './harness';
import { analyzeActiveFile, PROMPT, PROMPT_FILE, waitForActivation } from './circuit';

let vs: VsCode;

before(async () => {
  vs = await launchVsCode({ name: 'sae-graph', files: { [PROMPT_FILE]: PROMPT + '\n' }, settings: { 'circuitInspector.dictionary': 'sae-resid-post-1' } });
  await waitForActivation(vs);
});
after(async () => {
  await vs?.close();
});

test('Analyze Prompt with the residual SAE as the dictionary draws an SAE graph, labelled as such', async () => {
  const summary = await vs.step('analyze', async () => {
    await vs.openFile(PROMPT_FILE);
    return analyzeActiveFile(vs);
  });
  assert.ok(summary.feature > 0 && summary.embedding > 0 && summary.logit > 0, `node kinds: ${JSON.stringify(summary)}`);
  assert.ok(summary.links > 0, summary.text);
  const title = vs.webview('view').locator('[data-testid="graph-title"]');
  assert.match(await title.innerText(), /· SAE graph$/);
  assert.match((await title.getAttribute('title')) ?? '', /attribution patching, attention and norms frozen, MLPs linearised at the prompt/);
  await vs.screenshot('sae-graph');
});
