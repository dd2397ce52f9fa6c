/**
 * Verify in the panel, on the embedded model's Dallas two-hop prompt: Analyze Prompt, then "Top 10" in
 * the Verify section. The table (per target logit: node, predicted, measured, flag) carries the same
 * numbers `circuit-inspector verify --json` gives for the same nodes (run in this test process), with
 * the same rows flagged (the graph's predicted effect contradicts the real model's; on the shipped model
 * a layer-3 feature at "is" predicted to raise "Austin" that lowers it). The flagged node is looked up in
 * the table at run time, never by a feature index, so a retrained model is tested the same way. The
 * scatter plots every row with its y = x line; the graph marks the flagged node with a badge at the node,
 * and hovering it shows "effect runs through attention or normalisation" with the numbers.
 * Freezing attention and norms re-measures in the graph's own setting, named in the result. Screenshots
 * in the light and dark themes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchVsCode, repoRoot, type VsCode } from './harness';
import { analyzeActiveFile, waitForActivation } from './circuit';
import { setColorTheme } from './contrast';
import { runCli } from '../../src/cli/main';
import { contradicts } from '../../src/engine/attribution/verify';

const FILE = 'dallas.prompt';
const PROMPT = 'Dallas is in the state whose capital is';

let vs: VsCode;

before(async () => {
  vs = await launchVsCode({ name: 'verify', files: { [FILE]: PROMPT + '\n' } });
  await waitForActivation(vs);
});
after(async () => {
  await vs?.close();
});

interface Row {
  name: string;
  nodeId: string;
  token: string;
  predicted: number;
  measured: number;
  flagged: boolean;
}

async function rows(): Promise<Row[]> {
  return vs.webview('view').locator('[data-testid="verify-row"]').evaluateAll((trs) =>
    trs.map((tr) => {
      const d = (tr as HTMLElement).dataset;
      return { name: d.name ?? '', nodeId: d.nodeId ?? '', token: d.token ?? '', predicted: Number(d.predicted), measured: Number(d.measured), flagged: d.flagged === 'true' };
    }),
  );
}

/** `circuit-inspector verify --json` for these nodes, in this process. */
async function cliReport(nodes: string[], extra: string[] = []) {
  const out: string[] = [];
  const model = join(repoRoot, 'models', 'toy-llama');
  const code = await runCli(['verify', '--model', model, '--prompt', PROMPT, '--json', ...nodes.map((n) => `--node=${n}`), ...extra], { out: (t) => out.push(t), err: () => undefined, progress: () => undefined, isTTY: false });
  assert.equal(code, 0);
  return JSON.parse(out.join('\n')) as { setting: string; groups: { features: { layer: number; feature: number; position: number }[]; effects: { token: string; predicted: number; measured: number; flagged: boolean }[] }[] };
}

/**
 * The features of the pruned graph `circuit-inspector analyze` writes for the prompt at the default
 * thresholds (the graph the panel shows), by the CLI's node names (L3#407@8).
 */
async function cliGraphFeatures(): Promise<Set<string>> {
  const dir = mkdtempSync(join(tmpdir(), 'ci-verify-graph-'));
  try {
    const file = join(dir, 'graph.json');
    const model = join(repoRoot, 'models', 'toy-llama');
    const code = await runCli(['analyze', '--model', model, '--prompt', PROMPT, '--out', file], { out: () => undefined, err: () => undefined, progress: () => undefined, isTTY: false });
    assert.equal(code, 0);
    const g = JSON.parse(readFileSync(file, 'utf8')) as { nodes: { node_id: string; feature_type: string }[] };
    const names = new Set<string>();
    for (const n of g.nodes) {
      const m = /^(\d+)_(\d+)_(\d+)$/.exec(n.node_id);
      if (m && /transcoder|sae/i.test(n.feature_type)) names.add(`L${m[1]}#${m[2]}@${m[3]}`);
    }
    return names;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertMatchesCli(got: Row[], cli: Awaited<ReturnType<typeof cliReport>>): void {
  for (const g of cli.groups) {
    const f = g.features[0];
    const name = `L${f.layer}#${f.feature}@${f.position}`;
    for (const e of g.effects) {
      const r = got.find((x) => x.name === name && x.token === e.token);
      assert.ok(r, `${name} → ${e.token} is in the panel's table`);
      assert.ok(Math.abs(r.predicted - e.predicted) <= 1e-4 * Math.max(1, Math.abs(e.predicted)), `${name} → ${e.token}: predicted ${r.predicted} in the panel, ${e.predicted} from the CLI`);
      assert.ok(Math.abs(r.measured - e.measured) <= 1e-4 * Math.max(1, Math.abs(e.measured)), `${name} → ${e.token}: measured ${r.measured} in the panel, ${e.measured} from the CLI`);
      assert.equal(r.flagged, e.flagged, `${name} → ${e.token}: flag`);
    }
  }
}

/** The flagged row whose prediction misses the measurement most (undefined when none is flagged). */
function mostFlagged(rs: Row[]): Row | undefined {
  return rs.filter((r) => r.flagged).sort((a, b) => Math.abs(b.predicted - b.measured) - Math.abs(a.predicted - a.measured))[0];
}

const signed = (x: number) => `${x >= 0 ? '\\+' : '−'}${Math.abs(x).toFixed(3)}`;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The node flagged in the first test, by name: the others check the same node. */
let FLAGGED = '';

test('Verify the top nodes: the table matches `verify --json`, a contradicted node is flagged in it and on the graph', async () => {
  await vs.step('analyze', async () => {
    await vs.openFile(FILE);
    await analyzeActiveFile(vs);
  });
  const view = vs.webview('view');
  const got = await vs.step('verify-top', async () => {
    await view.locator('[data-testid="verify-top"]').click();
    await view.locator('[data-testid="verify-summary"]').waitFor({ timeout: 120_000 });
    await view.locator('[data-testid="verify-scatter"]').scrollIntoViewIfNeeded();
    return rows();
  });
  // "Top 10 in view": the 10 most influential features of the pruned graph (all of them when it has
  // fewer), one row per feature and target. The CLI's top 10 ranks every feature of the unpruned graph,
  // so those of its 10 that the pruned graph keeps must be among the panel's rows.
  const inView = await cliGraphFeatures();
  const top = await cliReport([], ['--top', '10']);
  const targets = top.groups[0].effects.length;
  const names = new Set(got.map((r) => r.name));
  assert.equal(names.size, Math.min(10, inView.size), `one feature per row group, min(10, ${inView.size} features in the graph): ${JSON.stringify(got)}`);
  assert.equal(got.length, names.size * targets, `one row per feature and target: ${JSON.stringify(got)}`);
  for (const n of names) assert.ok(inView.has(n), `${n} is a feature of the pruned graph (${[...inView].join(' ')})`);
  for (const g of top.groups) {
    const f = g.features[0];
    const n = `L${f.layer}#${f.feature}@${f.position}`;
    if (inView.has(n)) assert.ok(names.has(n), `${n}, in the CLI's top 10 and in the graph, is verified by the panel: ${JSON.stringify(got)}`);
  }
  const setting = await view.locator('[data-testid="verify-setting"]').innerText();
  assert.match(setting, /attention recomputed, norms recomputed/);
  const flagged = mostFlagged(got);
  assert.ok(flagged, `some top-10 node is flagged (the model's contradiction the badge shows): ${JSON.stringify(got)}`);
  FLAGGED = flagged.name;
  // The flag means what it says (engine/attribution/verify.ts `contradicts`, its defaults).
  assert.ok(contradicts(flagged.predicted, flagged.measured), JSON.stringify(flagged));
  // The CLI's flags are the panel's (assertMatchesCli compares every row's flag).
  assertMatchesCli(got, await cliReport(got.map((r) => r.name)));
  console.log(`[measure] panel verify: ${got.filter((r) => r.flagged).map((r) => `${r.name} ${r.predicted.toFixed(2)}→${r.measured.toFixed(2)}`).join(', ')}`);

  // The scatter: a point per row, the flagged ones marked, and the y = x line.
  const points = await view.locator('[data-testid="verify-point"]').evaluateAll((cs) => cs.map((c) => c.getAttribute('data-flagged')));
  assert.equal(points.length, got.length);
  assert.equal(points.filter((p) => p === 'true').length, got.filter((r) => r.flagged).length);
  assert.equal(await view.locator('[data-testid="verify-diagonal"]').count(), 1);
  const plot = (await view.locator('[data-testid="verify-scatter"]').boundingBox())!;
  assert.ok(plot.width >= 200 && plot.height >= 200, `the scatter is readable at panel size: ${JSON.stringify(plot)}`);

  // On the graph: the badge is drawn at the flagged node, and its tooltip says why, with the numbers.
  const frame = await vs.webviewFrame('view');
  const mark = (await frame.evaluate(`(() => {
    const v = window.circuitInspectorView;
    const ids = v.flagged();
    const badges = v.texts().filter((t) => t.role === 'verify-flag');
    return { ids, badges: badges.map((b) => ({ x: b.x, y: b.y })), at: ids.map((id) => v.nodeAt(id)) };
  })()`)) as { ids: string[]; badges: { x: number; y: number }[]; at: ({ x: number; y: number } | undefined)[] };
  const i = mark.ids.indexOf(flagged.nodeId);
  assert.ok(i >= 0, `${flagged.nodeId} is flagged on the graph: ${JSON.stringify(mark)}`);
  const at = mark.at[i]!;
  assert.ok(mark.badges.some((b) => Math.hypot(b.x - at.x, b.y - at.y) < 15), `a badge is drawn at ${flagged.nodeId}: ${JSON.stringify(mark)}`);
  const tip = await vs.step('flag-tooltip', async () => {
    const canvas = (await view.locator('[data-testid="graph-canvas"]').boundingBox())!;
    await vs.page.mouse.move(canvas.x + at.x, canvas.y + at.y);
    const t = view.locator('[data-testid="verify-tooltip"]');
    await t.waitFor({ timeout: 10_000 });
    return t.innerText();
  });
  assert.match(tip, /effect runs through attention or normalisation/);
  assert.match(tip, new RegExp(`${escape(JSON.stringify(flagged.token))}: predicted ${signed(flagged.predicted)}, measured ${signed(flagged.measured)}`), tip);
});

test('frozen attention and norms: measured in the graph’s own setting, named, same numbers as the CLI', async () => {
  const view = vs.webview('view');
  const got = await vs.step('verify-frozen', async () => {
    await view.locator('[data-testid="verify-attention"]').selectOption('frozen');
    await view.locator('[data-testid="verify-norms"]').selectOption('frozen');
    await view.locator('[data-testid="verify-top"]').click();
    await view.locator('[data-testid="verify-setting"]', { hasText: 'attention frozen, norms frozen' }).waitFor({ timeout: 120_000 });
    return rows();
  });
  assertMatchesCli(got, await cliReport(got.map((r) => r.name), ['--attention', 'frozen', '--norms', 'frozen']));
  assert.ok(!got.find((r) => r.name === FLAGGED)?.flagged, `with the norms frozen the graph predicts ${FLAGGED}`);
});

test('the verify table, scatter and flag read in the light and dark themes (screenshots)', async () => {
  const view = vs.webview('view');
  // Back to the real model, where the node of the first test is flagged.
  await view.locator('[data-testid="verify-attention"]').selectOption('recomputed');
  await view.locator('[data-testid="verify-norms"]').selectOption('recomputed');
  await view.locator('[data-testid="verify-top"]').click();
  await view.locator('[data-testid="verify-setting"]', { hasText: 'attention recomputed, norms recomputed' }).waitFor({ timeout: 120_000 });
  assert.ok((await rows()).find((r) => r.name === FLAGGED)?.flagged);
  for (const theme of ['Light Modern', 'Dark Modern']) {
    await vs.step(`theme-${theme.toLowerCase().replace(/ /g, '-')}`, async () => {
      await setColorTheme(vs, theme);
      await vs.page.waitForTimeout(800);
      await view.locator('[data-testid="verify-scatter"]').scrollIntoViewIfNeeded();
    });
  }
});
