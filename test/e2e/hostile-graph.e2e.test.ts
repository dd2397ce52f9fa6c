/**
 * A graph file from a stranger is data, never code: labels, tokens and supernode names carrying
 * <script> and <img onerror> are shown literally in the custom editor, and none of their script runs —
 * no flag set in the webview or the workbench, no dialog, no element injected.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchVsCode, type VsCode } from './harness';
import { graphSummary, openNodeList, waitForActivation } from './circuit';

const IMG = `<img src=x onerror="window.__ciPwned='img';alert('img')">`;
const SCRIPT = `<script>window.__ciPwned='script';alert('script')</script>`;
const SVG = `<svg onload="window.__ciPwned='svg'"></svg>`;

const hostile = {
  metadata: { slug: SCRIPT, prompt: `Hello ${SCRIPT}`, prompt_tokens: ['Hello', SCRIPT], prompt_file: `../${IMG}` },
  qParams: { pinnedIds: [], supernodes: [[SVG, '1_err_1']] },
  nodes: [
    { node_id: 'E_1_0', feature_type: 'embedding', layer: 'E', ctx_idx: 0 },
    { node_id: 'E_2_1', feature_type: 'embedding', layer: 'E', ctx_idx: 1 },
    { node_id: '0_7_1', feature_type: 'cross layer transcoder', layer: '0', ctx_idx: 1, feature: 7, activation: 1.5, influence: 0.2, clerp: IMG },
    { node_id: '1_3_1', feature_type: 'cross layer transcoder', layer: '1', ctx_idx: 1, feature: 3, activation: 0.5, influence: 0.4, clerp: SCRIPT },
    { node_id: '1_err_1', feature_type: 'mlp reconstruction error', layer: '1', ctx_idx: 1, clerp: SVG },
    { node_id: '3_9_1', feature_type: 'logit', layer: '3', ctx_idx: 1, token_prob: 0.5, clerp: `${IMG} (p=0.5)`, is_target_logit: true },
  ],
  links: [
    { source: 'E_2_1', target: '0_7_1', weight: 1 },
    { source: '0_7_1', target: '1_3_1', weight: 0.5 },
    { source: '1_3_1', target: '3_9_1', weight: -0.7 },
    { source: '1_err_1', target: '3_9_1', weight: 0.2 },
    { source: 'E_1_0', target: '3_9_1', weight: 0.1 },
  ],
};

let vs: VsCode;

before(async () => {
  vs = await launchVsCode({ name: 'hostile-graph', files: { 'hostile.graph.json': JSON.stringify(hostile, null, 1) } });
  await waitForActivation(vs);
});
after(async () => {
  await vs?.close();
});

test('the hostile graph opens in the custom editor and its labels are shown literally', async () => {
  const labels = await vs.step('hostile-open', async () => {
    await vs.openFile('hostile.graph.json');
    const s = await graphSummary(vs.webview('editor'));
    assert.equal(s.nodes, hostile.nodes.length);
    // textContent, not innerText: the node list is a closed <details> until someone opens it.
    return (await vs.webview('editor').locator('[data-testid="node-row"] .node-row-label').allTextContents()).map((t) => t.trim());
  });
  // Feature labels read with their L#idx in front.
  assert.ok(labels.includes(`L0#7 ${IMG}`), `the <img> label is not shown literally: ${JSON.stringify(labels)}`);
  assert.ok(labels.includes(`L1#3 ${SCRIPT}`), `the <script> label is not shown literally: ${JSON.stringify(labels)}`);
  // The supernode is drawn merged (one row, its name as the label), its member folded into it.
  assert.ok(labels.includes(SVG), `the <svg> supernode name is not shown literally: ${JSON.stringify(labels)}`);
});

test('the feature card shows the hostile label as text', async () => {
  const label = await vs.step('hostile-card', async () => {
    const view = vs.webview('editor');
    await openNodeList(view);
    await view.locator('[data-testid="node-row"][data-node-id="0_7_1"]').click();
    return view.locator('[data-testid="feature-card-label"]').innerText();
  });
  assert.equal(label.trim(), `L0#7 ${IMG}`);
});

test('no script from the file ran and nothing was injected', async () => {
  // Give any injected handler (an <img> error fires as soon as the element exists) time to run.
  await new Promise((r) => setTimeout(r, 1500));
  const frame = await vs.webviewFrame('editor');
  const inWebview = await frame.evaluate(() => ({
    flag: (window as unknown as { __ciPwned?: string }).__ciPwned ?? null,
    imgs: document.querySelectorAll('img').length,
    // VS Code's own bridge script and the viewer's nonce'd script are the only scripts; none carries the payload.
    scripts: Array.from(document.querySelectorAll('script')).filter((s) => (s.textContent ?? '').includes('__ciPwned')).length,
    svgOnload: document.querySelectorAll('svg[onload]').length,
  }));
  assert.deepEqual(inWebview, { flag: null, imgs: 0, scripts: 0, svgOnload: 0 });
  const inWorkbench = await vs.page.evaluate(() => (window as unknown as { __ciPwned?: string }).__ciPwned ?? null);
  assert.equal(inWorkbench, null);
  assert.deepEqual(vs.dialogs, []);
  await vs.screenshot('hostile-after');
});
