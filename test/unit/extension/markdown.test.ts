import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeMarkdown } from '../../../src/shared/markdown';
import { FOCUS_COMMAND, hoverMarkdown } from '../../../src/shared/hover-content';
import type { ForwardResult } from '../../../src/shared/rpc';

test('escaped labels carry no markdown: links, images, html, table pipes, code', () => {
  const hostile = '[click](command:workbench.action.terminal.new) ![x](http://e/x.png) <b>b</b> a|b `c` *d* \n# h';
  const e = escapeMarkdown(hostile);
  // Every markdown-significant character is preceded by a backslash.
  for (let i = 0; i < e.length; i++) {
    if ('[]()!<>|`*#'.includes(e[i])) assert.equal(e[i - 1], '\\', `unescaped ${e[i]} at ${i} in ${e}`);
  }
  assert.ok(!e.includes('\n'));
  // Unescaping gives back the original (minus the newline), so nothing is lost for the reader.
  assert.equal(e.replace(/\\(.)/g, '$1'), hostile.replace(/\n/g, ' '));
});

const forward: ForwardResult = {
  tokens: [
    { id: 1, text: '<s>', start: 0, end: 0, special: true },
    { id: 2, text: 'Dallas', start: 0, end: 6, special: false },
  ],
  features: [[], [{ layer: 2, feature: 17, activation: 3.5, label: 'Texas](command:evil)' }]],
  predictions: [[], [{ token: ' is', prob: 0.5 }]],
};

test('hover lists features with one trusted focus link each, with decodable arguments', () => {
  const md = hoverMarkdown('file:///w/a.prompt', forward, 1, [{ layer: 0, predictions: [{ token: ' Texas', prob: 0.25 }] }]);
  const links = [...md.matchAll(/\(command:([\w.]+)\?([^ )]+)/g)];
  assert.equal(links.length, 1);
  assert.equal(links[0][1], FOCUS_COMMAND);
  assert.deepEqual(JSON.parse(decodeURIComponent(links[0][2])), { uri: 'file:///w/a.prompt', layer: 2, feature: 17, position: 1 });
  assert.ok(md.includes('Texas\\]\\(command\\:evil\\)'));
  assert.ok(md.includes('3.50'));
  assert.ok(md.includes('50.0%'));
  assert.ok(md.includes('L0:'));
});

test('a token with no active feature says so', () => {
  const md = hoverMarkdown('u', { ...forward, features: [[], []] }, 1, undefined);
  assert.ok(md.includes('No transcoder feature'));
});

test('hover labels show their L#idx and score; below the threshold they read "unlabelled (best guess …)"', () => {
  const f = (feature: number, label: string, f1?: number) => ({ layer: 3, feature, activation: 2, label, ...(f1 === undefined ? {} : { evidence: { f1, precision: 0.4, recall: 0.9, against: 'the latent predict:Frankfort' } }) });
  const fw = { ...forward, features: [[], [f(95, 'predicts Frankfort', 0.31), f(7, 'the state Texas', 0.62), f(8, 'published')]] };
  // Read as a person sees it: markdown escapes removed.
  const plain = (m: string) => m.replace(/\\(.)/g, '$1');
  const md = plain(hoverMarkdown('u', fw, 1, undefined));
  assert.ok(md.includes('L3#95 unlabelled (best guess: predicts Frankfort, F1 0.31)'), md);
  assert.ok(md.includes('F1 0.31 · P 0.40 · R 0.90 vs the latent predict:Frankfort'), md);
  assert.ok(md.includes('L3#7 the state Texas'));
  assert.ok(md.includes('L3#8 published | no score'));
  // A lower threshold (the labels.minF1 setting) trusts the first label.
  assert.ok(plain(hoverMarkdown('u', fw, 1, undefined, 6, 0.3)).includes('L3#95 predicts Frankfort |'));
});
