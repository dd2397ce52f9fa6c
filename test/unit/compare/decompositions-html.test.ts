/**
 * The Compare Decompositions page: runs no script, escapes every string it shows, shows each
 * dictionary's figures exactly as the CLI's Markdown report formats them (parsed back from the markup,
 * cell by cell), names the kinds as the debate does (transcoders, CLT, SAE, e2e SAE) and the graph each
 * gives, and marks the best value of a column by weight and a star rather than colour alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReport } from '../../../src/engine/decompositions/report';
import type { DecompositionReport, DictionaryReport } from '../../../src/shared/decomposition-report';
import { decompositionsHtml } from '../../../src/extension/compare/decompositions-html';

const HOSTILE = '<img src=x onerror=alert(1)>"\'&\u001b[31m';

function dict(name: string, kind: DictionaryReport['kind'], l0: number, fvu: number, ce: number, kl: number, rep: number | undefined, unused: number): DictionaryReport {
  return {
    name,
    kind,
    layers: kind === 'sae' ? [1] : [0, 1],
    l0,
    fvu,
    perLayer: (kind === 'sae' ? [1] : [0, 1]).map((layer) => ({ layer, l0, fvu, ceSpliced: ce, klSpliced: kl })),
    ceClean: 1.992,
    ceSpliced: ce,
    klSpliced: kl,
    ...(rep === undefined ? { graphSkipped: 'SAE graphs need a single residual-stream SAE layer' } : { graph: { replacement: rep, completeness: rep + 0.05, featuresFor80: 12 } }),
    ablation: { measured: 100, unused: Math.round(unused * 100), unusedShare: unused, epsilon: 0.01 },
  };
}

const REPORT: DecompositionReport = {
  model: 'toy-llama',
  prompts: [`Dallas ${HOSTILE}`],
  dictionaries: [
    dict('toy-llama-clt', 'clt', 6.6, 0.028, 2.049, 0.045, 0.884, 0.477),
    dict('e2e-sae-resid-post-1', 'sae', 14.9, 0.394, 1.95, 0.0013, 0.812, 0.334),
    dict(`sae-${HOSTILE}`, 'sae', 14.2, 0.015, 2.012, 0.0028, 0.949, 0.351),
    dict('toy-llama-transcoders', 'transcoders', 7.0, 0.035, 2.085, 0.163, undefined, 0.478),
  ],
};

/** The main table's body cells per row, as text (tags stripped, entities decoded). */
function rows(html: string): Map<string, string[]> {
  const body = html.slice(html.indexOf('<tbody>'), html.indexOf('</tbody>'));
  const out = new Map<string, string[]>();
  for (const tr of body.match(/<tr[^>]*>[\s\S]*?<\/tr>/g) ?? []) {
    const cells = [...tr.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((m) => decode(m[1].replace(/<[^>]+>/g, '')).replace(' ★', '').trim());
    out.set(cells[0], cells.slice(1));
  }
  return out;
}
const decode = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));

test('decompositions page: no script, hostile strings escaped, strict CSP', () => {
  const html = decompositionsHtml({ cspSource: 'vscode-resource:', cssUri: 'vscode-resource:/media/decompositions.css', title: `t ${HOSTILE}` }, REPORT);
  assert.ok(!/<script/i.test(html), 'no script');
  assert.ok(!html.includes('<img'), 'markup in strings is escaped');
  assert.ok(!html.includes('\u001b'), 'control characters dropped');
  assert.match(html, /Content-Security-Policy" content="default-src &#39;none&#39;; style-src vscode-resource:; font-src vscode-resource:"/);
  assert.ok(!/ style=/.test(html), 'no inline styles');
});

test('decompositions page: every figure as the CLI report prints it; kinds, graphs and best values marked', () => {
  const html = decompositionsHtml({ cspSource: 'c', cssUri: 'u', title: 't' }, REPORT);
  const table = rows(html);
  // The CLI's Markdown rows, parsed: name | kind | L0 | FVU | CE clean | CE spliced | KL spliced | replacement | completeness | f80 | no effect.
  const md = formatReport(REPORT).split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| dictionary')).slice(0, REPORT.dictionaries.length);
  for (const line of md) {
    const c = line.split(' | ').map((x) => x.replace(/^\| |\s\|$/g, '').trim());
    // The page drops control characters (the CLI prints them as they are).
    // eslint-disable-next-line no-control-regex
    const name = c[0].replace(/[\u0000-\u001f]/g, '');
    const got = table.get(name);
    assert.ok(got, `a row for ${name}`);
    // got: kind, graph, L0, FVU, CE clean, CE spliced, KL spliced, replacement, completeness, f80, no effect
    assert.deepEqual(got.slice(2, 10), c.slice(2, 10), `${name}: the figures`);
    assert.equal(got[10], c[10].replace(/ \(ε [^)]*\)$/, ''), `${name}: no-effect share`);
  }
  assert.deepEqual([...table.values()].map((r) => r[0]), ['CLT', 'e2e SAE', 'SAE', 'transcoders']);
  assert.equal(table.get('toy-llama-clt')![1], 'transcoder graph');
  assert.equal(table.get('e2e-sae-resid-post-1')![1], 'SAE graph (attribution patching)');
  assert.match(table.get('toy-llama-transcoders')![1], /^none \(/);
  // Best: FVU and replacement by the SAE, KL by the e2e SAE, no-effect share by the e2e SAE.
  const best = [...html.matchAll(/<tr data-dictionary="([^"]*)">([\s\S]*?)<\/tr>/g)].flatMap((m) => [...m[2].matchAll(/class="num best" data-col="([^"]*)"/g)].map((b) => `${decode(m[1]).slice(0, 4)}:${b[1]}`));
  assert.deepEqual(best.sort(), ['e2e-:KL spliced', 'e2e-:CE spliced', 'e2e-:no effect', 'sae-:FVU', 'sae-:completeness', 'sae-:replacement'].sort());
});
