/**
 * The main path a user takes, on the embedded model: open a prompt, run Analyze Prompt from the palette,
 * see the attribution graph in the side panel, hover a token for its features, click a feature node and
 * see its activation painted on the prompt, steer it and see the predictions change.
 * The steps share one session and build on each other, in order.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchVsCode, repoRoot, type VsCode } from './harness';
import { analyzeActiveFile, openNodeList, CLEAR_DECORATIONS, PROMPT, PROMPT_FILE, PROMPT_WORD, waitForActivation, type GraphSummary } from './circuit';
import { FeatureStore } from '../../src/engine/features/store';

let vs: VsCode;
let summary: GraphSummary;

before(async () => {
  vs = await launchVsCode({ name: 'analyze', files: { [PROMPT_FILE]: PROMPT + '\n' } });
  await waitForActivation(vs);
});
after(async () => {
  await vs?.close();
});

test('Analyze Prompt from the palette draws the graph in the side panel', async () => {
  const t0 = Date.now();
  summary = await vs.step('analyze', async () => {
    await vs.openFile(PROMPT_FILE);
    return analyzeActiveFile(vs);
  });
  console.log(`[measure] Analyze Prompt (palette) → graph drawn: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${summary.text}`);
  assert.ok(summary.nodes > 0 && summary.links > 0, `empty graph: ${summary.text}`);
});

test('the graph has the node kinds of an attribution graph', async () => {
  // Token embeddings at the bottom, transcoder features and reconstruction errors in between, the
  // output logits on top: every kind is present, and the counts add up to the nodes shown.
  assert.ok(summary.embedding > 0, `no embedding nodes: ${JSON.stringify(summary)}`);
  assert.ok(summary.feature > 0, `no feature nodes: ${JSON.stringify(summary)}`);
  assert.ok(summary.error > 0, `no error nodes: ${JSON.stringify(summary)}`);
  assert.ok(summary.logit > 0, `no logit nodes: ${JSON.stringify(summary)}`);
  assert.equal(summary.embedding + summary.feature + summary.error + summary.logit, summary.nodes);
  // The node list names the features and logits a user can click.
  const rows = vs.webview('view').locator('[data-testid="node-row"]');
  const kinds = await rows.evaluateAll((es) => es.map((e) => e.getAttribute('data-kind')));
  assert.ok(kinds.includes('feature') && kinds.includes('logit'), `node list kinds: ${kinds.join(',')}`);
});

test('hovering a token shows its active features and the predictions', async () => {
  const text = await vs.step('hover-token', async () => {
    await vs.page.keyboard.press('Escape');
    return vs.hoverText(PROMPT_WORD, { expect: /Circuit Inspector/ });
  });
  assert.match(text, new RegExp(`token \\d+: .*${PROMPT_WORD}`), text);
  // The feature table: a header and at least one feature row with its Focus link.
  assert.match(text, /Feature\s+Label score\s+Activation/, text);
  // Every label carries its L#idx and its score (the embedded labels are scored against latents).
  assert.match(text, /L\d+#\d+ /, text);
  assert.match(text, /F1 \d\.\d\d/, text);
  assert.match(text, /Focus/, text);
  assert.match(text, /Next token:/, text);
});

test('clicking a feature node paints its activation over the prompt', async () => {
  await vs.page.mouse.move(5, 500); // away from the editor, so the hover closes
  await vs.step('focus-feature', async () => {
    await openNodeList(vs.webview('view'));
    // The list is sorted by influence: the first feature row is the feature that matters most.
    const feature = vs.webview('view').locator('[data-testid="node-row"][data-kind="feature"]').first();
    await feature.click();
    await vs.extensionDecorations().first().waitFor({ state: 'attached', timeout: 60_000 });
  });
  const painted = await vs.extensionDecorations().count();
  assert.ok(painted > 0);
  // The feature card shows the clicked feature, its label with its L#idx and the label's evidence;
  // the node list's rows read the same way.
  const view = vs.webview('view');
  const label = await view.locator('[data-testid="feature-card-label"]').innerText();
  assert.match(label.trim(), /^L\d+#\d+ \S/, label);
  const evidence = await view.locator('[data-testid="feature-card-evidence"]').innerText();
  assert.match(evidence, /label score F1 \d\.\d\d · P \d\.\d\d · R \d\.\d\d · scored against /, evidence);
  const row = await view.locator('[data-testid="node-row"][data-kind="feature"] .node-row-label').first().innerText();
  assert.match(row.trim(), /^L\d+#\d+ (unlabelled \(best guess: .+, F1 0\.\d\d\)|.+ \(F1 \d\.\d\d\))$/, row);
});

test('the feature card shows its top-activating examples as readable text', async () => {
  // Truth: the embedded model's own feature file for the layer and index the card names. The toy
  // tokenizer is word-level, so the example reads as its words separated by spaces, not run together.
  const view = vs.webview('view');
  const example = view.locator('[data-testid="feature-card"] [data-testid="feature-example"]').first();
  await example.waitFor({ timeout: 30_000 });
  // The card's label line names the feature as L{layer}#{index}.
  const label = await view.locator('[data-testid="feature-card"] [data-testid="feature-card-label"]').first().innerText();
  const m = /^L(\d+)#(\d+)/.exec(label.trim());
  assert.ok(m, `the card does not name its feature: ${label}`);
  // With the shipped dashboards, the card's examples are their diverse top contexts; else the label file's.
  const storeFile = join(repoRoot, 'models/toy-llama/transcoders/dashboards.sqlite');
  const features = JSON.parse(readFileSync(join(repoRoot, 'models/toy-llama/transcoders/features', `layer_${m[1]}.json`), 'utf8')) as { index: number; activations: { tokens: string[] }[] }[];
  const truth = existsSync(storeFile)
    ? (await FeatureStore.open(storeFile)).card(Number(m[1]), Number(m[2]))?.top[0]?.tokens
    : features.find((f) => f.index === Number(m[2]))?.activations[0]?.tokens;
  assert.ok(truth, `feature ${m[0]} has no examples in the model's feature file`);
  assert.equal((await example.innerText()).trim(), truth.join(' ').replace(/\n/g, '⏎'));
});

test('steering the feature changes the predictions', async () => {
  const view = vs.webview('view');
  const rows = await vs.step('steer', async () => {
    await view.locator('[data-testid="steer-panel"]').waitFor({ state: 'visible' });
    // A strong push (×8) on the feature the user clicked.
    // steer-value is a <vscode-textfield>; its <input> lives in an open shadow root, which locators pierce.
    await view.locator('[data-testid="steer-value"] input').fill('8');
    await view.locator('[data-testid="steer-button"]').click();
    const table = view.locator('[data-testid="steer-result"]');
    await table.waitFor({ timeout: 120_000 });
    // In the narrow side panel the result must be where the user looks: on screen, right under the
    // control (not below the feature card, past the bottom of the panel).
    const where = await table.evaluate((t) => {
      const r = t.getBoundingClientRect();
      const c = document.querySelector('[data-testid="steer-panel"]')!.getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, height: window.innerHeight, width: window.innerWidth, control: c.bottom };
    });
    assert.ok(where.top >= 0 && where.bottom <= where.height, `the steering result is off screen: ${JSON.stringify(where)}`);
    assert.ok(where.top >= where.control && where.top - where.control < 60, `the steering result is not beside its control: ${JSON.stringify(where)}`);
    console.log(`[measure] side panel ${where.width}×${where.height} px; steering result at y = ${where.top.toFixed(0)}–${where.bottom.toFixed(0)}`);
    return table.locator('[data-testid="steer-row"]').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => (td.textContent ?? '').trim())),
    );
  });
  assert.ok(rows.length > 0, 'no prediction rows');
  // Each row: before token, before probability, after token, after probability.
  const changed = rows.filter(([bt, bp, at, ap]) => bt !== at || bp !== ap);
  assert.ok(changed.length > 0, `steering changed nothing: ${JSON.stringify(rows)}`);
});

test('the bar between the graph and the details pane gives the graph more room', async () => {
  const view = vs.webview('view');
  const heights = () =>
    view.locator('[data-testid="graph-canvas"]').evaluate((g) => ({
      graph: g.getBoundingClientRect().height,
      details: document.querySelector('[data-testid="graph-details"]')!.getBoundingClientRect().height,
    }));
  const before = await heights();
  const bar = view.locator('[data-testid="graph-splitter"]');
  const after = await vs.step('splitter', async () => {
    // Dragged down with the mouse by 120 px, then one more step with the keyboard.
    const box = (await bar.boundingBox())!;
    await vs.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await vs.page.mouse.down();
    await vs.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2 + 120, { steps: 6 });
    await vs.page.mouse.up();
    const dragged = await heights();
    await bar.focus();
    await bar.press('ArrowDown');
    return { dragged, keyed: await heights() };
  });
  assert.ok(after.dragged.graph > before.graph + 100, `dragging did not enlarge the graph: ${JSON.stringify({ before, after })}`);
  assert.ok(after.dragged.details < before.details - 100, `dragging did not shrink the details: ${JSON.stringify({ before, after })}`);
  assert.ok(after.keyed.graph > after.dragged.graph, `Arrow Down did not enlarge the graph: ${JSON.stringify({ before, after })}`);
});

test('Clear Decorations removes the painted activation', async () => {
  assert.ok((await vs.extensionDecorations().count()) > 0, 'nothing was painted to clear (see the focus step)');
  await vs.step('clear-decorations', async () => {
    await vs.runCommand(CLEAR_DECORATIONS);
    await vs.extensionDecorations().first().waitFor({ state: 'detached', timeout: 30_000 });
  });
  assert.equal(await vs.extensionDecorations().count(), 0);
});

test('the threshold control re-prunes the analysis looser and tighter from the kept attribution', async () => {
  const frame = vs.webview('view');
  const slider = frame.locator('[data-testid="graph-threshold"]');
  const total = async () => Number(await frame.locator('[data-testid="graph-summary"][data-total]').getAttribute('data-total'));
  const setTo = (t: number) => slider.evaluate((e, v) => {
    (e as HTMLInputElement).value = String(v);
    e.dispatchEvent(new Event('change'));
  }, t);
  const until = async (ok: (n: number) => boolean, what: string) => {
    const t0 = Date.now();
    let n = await total();
    while (!ok(n) && Date.now() - t0 < 60_000) {
      await vs.page.waitForTimeout(200);
      n = await total();
    }
    assert.ok(ok(n), `${what}: ${n} nodes`);
    return n;
  };
  // The control starts where the analysis was pruned: the nodeThreshold setting (0.8 by default).
  assert.equal(Number(await slider.inputValue()), 0.8);
  const start = await total();
  const counts = await vs.step('re-prune', async () => {
    await setTo(0.99);
    const looser = await until((n) => n > start, 'a looser threshold did not add nodes');
    await setTo(0.3);
    const tighter = await until((n) => n < start, 'a tighter threshold did not remove nodes');
    await setTo(0.8);
    const back = await until((n) => n === start, 'the setting did not give the first graph back');
    return { looser, tighter, back };
  });
  console.log(`[measure] re-prune: ${start} nodes at 0.8, ${counts.looser} at 0.99, ${counts.tighter} at 0.3`);
});
