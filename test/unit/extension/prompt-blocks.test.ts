import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockAt, choosePrompt, dialectFor, findPromptBlocks, graphFileName } from '../../../src/shared/prompt-blocks';

// Every block must be exactly the document slice it claims to be: that is what hover offsets rely on.
function checkSlices(doc: string, blocks: { start: number; end: number; text: string }[]) {
  for (const b of blocks) assert.equal(doc.slice(b.start, b.end), b.text);
}

test('dialect by language id and file name', () => {
  assert.equal(dialectFor('plaintext', '/a/x.prompt'), 'prompt');
  assert.equal(dialectFor('circuit-prompt', 'Untitled-1'), 'prompt');
  assert.equal(dialectFor('prompt', '/a/x.prompt.md'), 'markdown');
  assert.equal(dialectFor('markdown', '/a/README.md'), 'markdown');
  assert.equal(dialectFor('plaintext', '/a/notes.txt'), 'plain');
});

test('*.prompt: blocks split by --- lines, blank lines and final newline trimmed', () => {
  const doc = '\nThe capital of Texas is\n\n---\nWhen John and Mary went to the store, John gave a drink to\n---\n\n   \n---\r\nred square\r\n';
  const blocks = findPromptBlocks(doc, 'prompt');
  checkSlices(doc, blocks);
  assert.deepEqual(blocks.map((b) => b.text), ['The capital of Texas is', 'When John and Mary went to the store, John gave a drink to', 'red square']);
});

test('markdown: only ```prompt fences, content kept verbatim (inner blank lines too)', () => {
  const doc = '# Title\n\n```python\nx = 1\n```\n\n```prompt\nline one\n\nline two\n```\n\ntext\n~~~~ prompt extra\nTilde\n~~~~\n```prompt\n```\n';
  const blocks = findPromptBlocks(doc, 'markdown');
  checkSlices(doc, blocks);
  assert.deepEqual(blocks.map((b) => b.text), ['line one\n\nline two', 'Tilde']);
});

test('an unclosed fence runs to the end of the document', () => {
  const doc = '```prompt\nabc\ndef';
  const [b] = findPromptBlocks(doc, 'markdown');
  assert.equal(b.text, 'abc\ndef');
});

test('choosePrompt: selection, then block under cursor, then whole trimmed file', () => {
  const doc = 'alpha beta\n---\ngamma delta\n';
  const sel = choosePrompt(doc, 'prompt', { start: 6, end: 10 }, 0)!;
  assert.equal(sel.text, 'beta');
  const under = choosePrompt(doc, 'prompt', undefined, doc.indexOf('delta'))!;
  assert.equal(under.text, 'gamma delta');
  const plain = '  \n hello world \n\n';
  const whole = choosePrompt(plain, 'plain', undefined, 0)!;
  assert.equal(whole.text, 'hello world');
  assert.equal(plain.slice(whole.start, whole.end), whole.text);
  assert.equal(choosePrompt('   \n', 'plain', undefined, 0), undefined);
  // A cursor on a separator line in a multi-block file falls back to the whole file.
  const sepCursor = choosePrompt(doc, 'prompt', undefined, doc.indexOf('---') + 1)!;
  assert.equal(sepCursor.text, doc.trim());
});

test('blockAt counts a cursor at the very end of a block as inside', () => {
  const blocks = [{ start: 5, end: 10, text: 'xxxxx' }];
  assert.equal(blockAt(blocks, 10), blocks[0]);
  assert.equal(blockAt(blocks, 11), undefined);
  assert.equal(blockAt(blocks, 4), undefined);
});

test('graphFileName strips prompt extensions', () => {
  assert.equal(graphFileName('dallas.prompt'), 'dallas.graph.json');
  assert.equal(graphFileName('facts.prompt.md'), 'facts.graph.json');
  assert.equal(graphFileName('notes.txt'), 'notes.graph.json');
  assert.equal(graphFileName('README'), 'README.graph.json');
});

test('expect and group lines after a prompt belong to the block, never to its text', () => {
  const doc = 'Dallas is in the state whose capital is\nexpect top1 Austin\n\ngroup Texas = L2#5\n---\nexpectations of a prompt\n';
  const [a, b] = findPromptBlocks(doc, 'prompt');
  assert.equal(a.text, 'Dallas is in the state whose capital is');
  assert.deepEqual(a.expectations!.map((e) => [e.line, e.text, doc.slice(e.start, e.end)]), [[1, 'expect top1 Austin', 'expect top1 Austin'], [3, 'group Texas = L2#5', 'group Texas = L2#5']]);
  assert.equal(b.text, 'expectations of a prompt', 'a prompt line that merely starts with "expect…" stays prompt text');
  assert.equal(b.expectations, undefined);
  const md = '# t\n```prompt\nDallas is in\n```\nexpect top1 Austin\n\nexpect path Dallas -> Austin\nprose\nexpect top1 X\n';
  const [m] = findPromptBlocks(md, 'markdown');
  assert.equal(m.text, 'Dallas is in');
  assert.deepEqual(m.expectations!.map((e) => e.line), [4, 6], 'only the lines right after the fence');
});

test('a counterfactual line names the prompt a block is compared with, and is never prompt text', () => {
  const doc = 'Dallas is in the state whose capital is\ncounterfactual: Boston is in the state whose capital is\nexpect top1 Austin\n---\ncounterfactual:\n';
  const blocks = findPromptBlocks(doc, 'prompt');
  checkSlices(doc, blocks);
  const [a] = blocks;
  assert.equal(a.text, 'Dallas is in the state whose capital is');
  assert.equal(a.counterfactual?.prompt, 'Boston is in the state whose capital is');
  assert.equal(a.counterfactual?.line, 1);
  assert.deepEqual(a.expectations!.map((e) => e.text), ['expect top1 Austin'], 'the counterfactual is not a test line');
  assert.equal(blocks.length, 1, 'a block holding only an empty counterfactual line has no prompt');
  const md = '```prompt\nthe purple one is a\n```\n\ncounterfactual: the red one is a\n\nSome prose.\n';
  const [m] = findPromptBlocks(md, 'markdown');
  assert.equal(m.text, 'the purple one is a');
  assert.equal(m.counterfactual?.prompt, 'the red one is a');
  assert.equal(md.slice(m.counterfactual!.start, m.counterfactual!.end), 'counterfactual: the red one is a');
});
